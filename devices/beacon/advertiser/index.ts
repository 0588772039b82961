/** The gateway as a shake beacon: rotating-minor iBeacon advertising through bleno, loaded lazily. */
export * from './advertiser.ts';
