// The Alipay adapter's public entry: the provider, its config schema and the expected-order hook.
export { type AlipayConfig, type AlipayConfigInput, parseAlipayConfig } from './config.ts';
export type { ExpectedOrder, ExpectedOrderLookup } from './notification.ts';
export { AlipayProvider, type AlipayProviderOptions } from './provider.ts';
