export { startDashboard, type DashboardOptions, type DashboardHandle } from './dashboard-server.ts';
