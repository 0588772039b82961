/** Simulated BLE beacons: a virtual HCI controller for noble, a beacon site in virtual time, shake claim bursts. */
export * from './claims.ts';
export * from './hci-controller.ts';
export * from './rssi.ts';
export * from './world.ts';
