export { buildServer, buildWebhookServer, type ServerDeps, type HealthReport } from './server.js';
export {
  createMetrics,
  WEBHOOK_OUTCOMES,
  type Metrics,
  type QueueMetrics,
  type ReadyCounter,
  type WebhookMetrics,
  type WebhookOutcome,
} from './metrics.js';
export { createWebhook, REFRESH_ROUTE, type Webhook, type WebhookOptions, type WebhookPeers } from './webhook.js';
export { Forwarder, LEADER_WEBHOOK_ANNOTATION, forwardKey, type LeaderView } from './forward.js';
export { PathIndex, type PathLookup } from './path-index.js';
export type { RefreshTarget, Scope } from './refresh.js';
export {
  signRequest,
  signGitHub,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  GITHUB_SIGNATURE_HEADER,
  GITHUB_DELIVERY_HEADER,
} from './signature.js';
