/**
 * The error catalogue. Every error vendgate reports to a person or to the
 * platform carries one of these stable codes. Codes are grouped in numbered
 * ranges (the zwave-js convention) so a code says which layer it came from:
 *
 *   1xxx config        2xxx store         3xxx platform link / contract
 *   4xxx commands      5xxx order ledger  6xxx vending devices
 *   7xxx beacons/BLE   8xxx coupons       9xxx displays / HTTP API
 *   11xxx payment providers (110xx shared, 111xx WeChat Pay, 112xx Alipay)
 *
 * Codes never change meaning once published; add new ones instead.
 */
export const ErrorCode = {
  ConfigInvalid: 1001,
  ConfigFileUnreadable: 1002,
  ConfigYamlSyntax: 1003,

  StoreOpenFailed: 2001,
  StoreMigrationFailed: 2002,
  StoreSchemaTooNew: 2003,

  PayloadNotJson: 3001,
  PayloadInvalid: 3002,
  PayloadTooLarge: 3003,
  AckInvalid: 3004,
  OutboxFull: 3005,
  BrokerUnreachable: 3006,
  RequestTimeout: 3007,
  RequestRefused: 3008,

  CommandUnsigned: 4001,
  CommandSignatureInvalid: 4002,
  CommandExpired: 4003,
  CommandNotYetValid: 4004,
  CommandReplayed: 4005,
  CommandMisaddressed: 4006,
  CommandUnknownType: 4007,
  CommandBodyInvalid: 4008,

  OrderUnknownMachine: 5001,
  OrderUnknownSlot: 5002,
  OrderExpired: 5003,
  OrderAmountInvalid: 5004,
  OrderConflict: 5005,
  OrderUnresolved: 5006,
  OrderNotFound: 5007,
  CashlessSessionClosed: 5101,
  CashlessOrderNotCreated: 5102,

  DeviceTimeout: 6001,
  DeviceOffline: 6002,
  DeviceProtocol: 6003,
  DeviceFrameInvalid: 6004,
  DeviceBufferOverflow: 6005,
  DeviceBusy: 6006,
  VendJammed: 6101,
  VendEmptySlot: 6102,
  VendDropSensorMiss: 6103,
  VendMotorFault: 6104,
  VendUnknownSlot: 6105,
  VendFailed: 6106,
  CashlessPriceInvalid: 6201,
  CashlessSessionUnknown: 6202,
  CashlessSessionBusy: 6203,
  CashlessCommandRefused: 6204,
  CashlessAdapterError: 6205,

  BleUnavailable: 7001,
  BeaconNotABeacon: 7002,
  BeaconTruncated: 7003,
  BeaconMalformed: 7004,
  BeaconUnsupported: 7005,
  BeaconHexInvalid: 7006,
  BeaconFieldInvalid: 7007,

  CouponBudgetExhausted: 8001,
  CouponUserCapReached: 8002,
  CouponBeaconUnknown: 8003,
  CouponBeaconStale: 8004,
  CouponOutsideWindow: 8005,
  CouponAlreadyRedeemed: 8006,
  CouponCampaignNotActive: 8007,
  CouponCampaignUnknown: 8008,
  CouponUnknown: 8009,
  CouponExpired: 8010,
  CouponMinSpendNotMet: 8011,
  CouponCurrencyMismatch: 8012,
  CouponMachineNotInScope: 8013,
  CouponAmountInvalid: 8014,
  CouponPriceUnknown: 8015,
  CouponMoneyBudgetExhausted: 8016,
  CouponClaimStale: 8017,
  CouponCampaignInvalid: 8018,

  HttpBadRequest: 9001,
  HttpNotFound: 9002,
  DisplayScreenInvalid: 9101,
  DisplayCommandInvalid: 9102,
  DisplayQrInvalid: 9103,

  AlipayConfigInvalid: 11201,
  AlipayTimeout: 11202,
  AlipayUnavailable: 11203,
  AlipayHttpRejected: 11204,
  AlipayResponseInvalid: 11205,
  AlipayResponseSignatureInvalid: 11206,
  AlipayBusinessError: 11207,
  AlipayAmountInvalid: 11208,
  AlipayBillUnavailable: 11209,
  AlipayBillInvalid: 11210,
  AlipayResponseTooLarge: 11211,
  AlipayInputInvalid: 11212,
} as const;

export type ErrorCodeName = keyof typeof ErrorCode;
export type ErrorCodeValue = (typeof ErrorCode)[ErrorCodeName];

const nameByCode = new Map<number, ErrorCodeName>(
  Object.entries(ErrorCode).map(([name, code]) => [code, name as ErrorCodeName]),
);

export function errorCodeName(code: number): ErrorCodeName | undefined {
  return nameByCode.get(code);
}

/** An error with a stable catalogue code and structured context. */
export class VendgateError extends Error {
  readonly code: ErrorCodeValue;
  readonly codeName: ErrorCodeName;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCodeValue,
    message: string,
    context: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'VendgateError';
    this.code = code;
    this.codeName = errorCodeName(code) ?? 'HttpBadRequest';
    this.context = context;
  }

  toJSON(): { code: number; name: string; message: string; context: Readonly<Record<string, unknown>> } {
    return { code: this.code, name: this.codeName, message: this.message, context: this.context };
  }
}

export function isVendgateError(err: unknown, code?: ErrorCodeValue): err is VendgateError {
  return err instanceof VendgateError && (code === undefined || err.code === code);
}
