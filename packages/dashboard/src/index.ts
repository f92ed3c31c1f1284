export { startDashboard, type DashboardOptions, type DashboardHandle } from './dashboard-server.ts';
export {
  DEFAULT_DASHBOARD_MAX_CONCURRENT,
  DEFAULT_DASHBOARD_QUERY_TIMEOUT_MS,
  type DashboardApiOptions,
} from './dashboard-api.ts';
