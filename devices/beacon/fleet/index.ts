/** The site's configured beacons: presence with hysteresis, smoothed RSSI and distance, TLM health, clone detection. */
export * from './fleet.ts';
export * from './signal.ts';
