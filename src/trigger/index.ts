export { runTrigger, type TriggerIo } from './trigger.js';
export { parseTriggerArgs, TRIGGER_HELP, UsageError, type TriggerOptions } from './options.js';
