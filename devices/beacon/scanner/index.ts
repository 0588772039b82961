/** BLE scanning: the BeaconScanner port on noble, the lazy loader, noble's HCI stack on a given socket. */
export * from './load.ts';
export * from './noble-hci.ts';
export * from './scanner.ts';
export * from './types.ts';
