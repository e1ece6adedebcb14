export { buildServer, type ServerDeps, type HealthReport } from './server.js';
export { createMetrics, type Metrics, type QueueMetrics, type ReadyCounter } from './metrics.js';
