/**
 * `ble.simulate`: the beacon simulator as the beacon service's radio. Only
 * main/ may start a simulator, so the composition root asks here, and the
 * simulator's code is loaded only when the config asks for it.
 */
import type { BleConfig } from '../gateway/beacons/config.ts';
import type { SimulatedRadioFactory } from '../gateway/beacons/service.ts';

export async function simulatedRadioFor(
  ble: Pick<BleConfig, 'simulate'>,
): Promise<SimulatedRadioFactory | undefined> {
  if (!ble.simulate) return undefined;
  const { startDemoBeaconSite } = await import('../firmware-sim/beacons/demo-site.ts');
  return (site) => startDemoBeaconSite(site);
}
