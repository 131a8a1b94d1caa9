// A value that becomes one level of an MQTT topic (the CN inside `tc/<tenant>/<tenant>_<CN>/...`)
// must not be able to change the topic's structure: no "/", no wildcards, no NUL, not empty.
export const isTopicSafeLevel = (level: string): boolean =>
  level.length > 0 && !/[/+#\u0000]/.test(level);
