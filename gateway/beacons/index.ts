/** Flow 3 on the gateway: the `ble` config section and the beacon service (fleet, scanner, verifier, advertiser). */
export * from './config.ts';
export * from './service.ts';
