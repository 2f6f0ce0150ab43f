// The HTTP layer's public face: re-exports only.
export { type DashboardData, dashboardData } from './dashboard.js';
export { JobMetrics } from './job-metrics.js';
export {
  JobMonitor,
  type JobPhase,
  type MonitorEvent,
  type PartitionLag,
  type Readiness,
  type RestoreState,
} from './job-monitor.js';
export {
  buildApp,
  type HttpAddress,
  type HttpServer,
  type HttpServerOptions,
  httpStatusOf,
  isLoopback,
  parseHttpAddress,
  type RouteHook,
  startHttpServer,
} from './server.js';
