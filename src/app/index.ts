export { startApp, databaseUrlOf, type AppOptions, type RunningApp } from './start-app.ts';
export { createLogger } from './create-logger.ts';
