import type { Health } from './schemas.ts';

/** Prometheus text exposition of the gateway's health counters. */
export function renderMetrics(h: Health): string {
  const lines = [
    '# HELP vendgate_platform_connected 1 when the platform link is connected.',
    '# TYPE vendgate_platform_connected gauge',
    `vendgate_platform_connected ${h.platform.connected ? 1 : 0}`,
    '# HELP vendgate_machine_online 1 when the machine controller answers.',
    '# TYPE vendgate_machine_online gauge',
    ...h.machines.map((m) => `vendgate_machine_online{machine="${m.machineId}"} ${m.online ? 1 : 0}`),
    '# HELP vendgate_orders Orders in the ledger by state.',
    '# TYPE vendgate_orders gauge',
    ...Object.entries(h.orders).map(([state, n]) => `vendgate_orders{state="${state}"} ${n}`),
    '# HELP vendgate_outbox_pending Events not yet acknowledged by the platform.',
    '# TYPE vendgate_outbox_pending gauge',
    `vendgate_outbox_pending ${h.outbox.pending}`,
    '# HELP vendgate_outbox_dropped_total Telemetry events dropped at the outbox bound.',
    '# TYPE vendgate_outbox_dropped_total counter',
    `vendgate_outbox_dropped_total ${h.outbox.dropped}`,
    '# HELP vendgate_outbox_expired_total Telemetry events expired undelivered.',
    '# TYPE vendgate_outbox_expired_total counter',
    `vendgate_outbox_expired_total ${h.outbox.expired}`,
  ];
  return `${lines.join('\n')}\n`;
}
