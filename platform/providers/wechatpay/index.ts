// The WeChat Pay adapter of the payment provider port.
export {
  parseWechatPayConfig,
  type WechatPayConfig,
  type WechatPayConfigInput,
  WechatPayConfigSchema,
} from './config.ts';
export { WechatPayProvider, type WechatPayProviderOptions } from './provider.ts';
