export { publishOnce, publishReplacing, readOptional } from './durable-files.ts';
