/** The site's configured beacons: presence with hysteresis, smoothed RSSI and distance, TLM health, clone detection. */
export * from './clone.ts';
export * from './directory.ts';
export * from './fleet.ts';
export * from './health.ts';
export * from './presence.ts';
export * from './signal.ts';
