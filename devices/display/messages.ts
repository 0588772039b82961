/**
 * The displays' message catalogue (zh-CN, en, de, ja) and the pure function
 * that turns a screen into the texts a person reads. Amounts are formatted
 * with Intl for the display's locale and the price's currency. Both the
 * kiosk page and the simulated MQTT display use this.
 */
import { formatMoney } from '../../core/money.ts';
import {
  type DisplayScreen,
  KNOWN_REASONS,
  type KnownReason,
  type Locale,
  type RenderCommand,
  type ScreenOf,
} from './port.ts';

export interface Messages {
  idleTitle: string;
  idleHint: string;
  /** A select-then-pay MDB machine's idle hint: choose on the machine first. */
  idleSelectFirstHint: string;
  /** A pay-first MDB machine's idle hint. */
  idlePayFirstHint: string;
  /** Pay first, after payment: the credit is on the machine. */
  chooseTitle: string;
  chooseCredit: (amount: string) => string;
  /** Pay first: the last choice costs more than the credit. */
  aboveCredit: (item: string) => string;
  payTitle: string;
  timeLeft: string;
  timeUp: string;
  accepted: string;
  dispensingTitle: string;
  dispensingNote: string;
  doneTitle: string;
  doneNote: string;
  failedTitle: string;
  refund: (amount: string) => string;
  /** A vend session that ended before anything was paid (no refund to announce). */
  timedOutTitle: string;
  notCompletedTitle: string;
  nothingCharged: string;
  /** The line under a printed sticker's QR code that names the machine. */
  stickerMachine: (machineId: string) => string;
  /** The kiosk page of a display id the gateway does not know. */
  unknownDisplayTitle: string;
  unknownDisplayBody: string;
  outOfServiceTitle: string;
  outOfServiceBody: string;
  waiting: string;
  reasons: Record<KnownReason, string>;
}

const zhCN: Messages = {
  idleTitle: '扫码购买',
  idleHint: '用手机选择商品并支付，机器自动出货',
  idleSelectFirstHint: '请先在机器上选择商品，再扫码支付',
  idlePayFirstHint: '扫码支付，然后在机器上选择商品',
  chooseTitle: '请在机器上选择商品',
  chooseCredit: (amount) => `余额 ${amount}`,
  aboveCredit: (item) => `${item} 超出余额，请另选`,
  payTitle: '请扫码支付',
  timeLeft: '剩余时间',
  timeUp: '支付已超时',
  accepted: '支持',
  dispensingTitle: '支付成功',
  dispensingNote: '正在出货，请稍候…',
  doneTitle: '出货完成',
  doneNote: '请从取货口取走商品',
  failedTitle: '抱歉，出货失败',
  refund: (amount) => `${amount} 将原路退回您的账户`,
  timedOutTitle: '支付时间已到',
  notCompletedTitle: '本次购买未完成',
  nothingCharged: '您未被扣款',
  stickerMachine: (id) => `机器编号 ${id}`,
  unknownDisplayTitle: '未找到此屏幕',
  unknownDisplayBody: '本网关未配置此屏幕编号，请检查地址',
  outOfServiceTitle: '暂停服务',
  outOfServiceBody: '给您带来不便，敬请谅解',
  waiting: '正在连接…',
  reasons: {
    jammed: '商品卡住了',
    'empty-slot': '该商品已售罄',
    'drop-sensor-miss': '未检测到商品掉落',
    'motor-fault': '机器故障',
    'unknown-slot': '商品货道不存在',
    busy: '机器忙，请稍后再试',
    timeout: '机器无响应',
    'payment-expired': '支付已超时',
    'payment-failed': '支付未成功',
    offline: '机器离线',
    maintenance: '维护中',
    other: '发生错误',
  },
};

const en: Messages = {
  idleTitle: 'Scan to buy',
  idleHint: 'Choose and pay on your phone; the machine dispenses.',
  idleSelectFirstHint: 'Choose your product on the machine, then scan to pay.',
  idlePayFirstHint: 'Scan, pay, then choose on the machine.',
  chooseTitle: 'Choose your product on the machine',
  chooseCredit: (amount) => `Credit ${amount}`,
  aboveCredit: (item) => `${item} costs more than your credit; please choose another.`,
  payTitle: 'Scan to pay',
  timeLeft: 'Time left',
  timeUp: 'Time is up',
  accepted: 'Accepted',
  dispensingTitle: 'Payment received',
  dispensingNote: 'Dispensing, one moment…',
  doneTitle: 'Enjoy!',
  doneNote: 'Please take it from the tray.',
  failedTitle: 'Sorry, the vend failed',
  refund: (amount) => `${amount} will be refunded to your account.`,
  timedOutTitle: 'Time ran out',
  notCompletedTitle: 'The purchase did not go through',
  nothingCharged: 'Nothing was charged.',
  stickerMachine: (id) => `Machine ${id}`,
  unknownDisplayTitle: 'Unknown display',
  unknownDisplayBody: 'This gateway has no display with this id; check the address.',
  outOfServiceTitle: 'Out of service',
  outOfServiceBody: 'Sorry for the inconvenience.',
  waiting: 'Connecting…',
  reasons: {
    jammed: 'The product got stuck.',
    'empty-slot': 'This product is sold out.',
    'drop-sensor-miss': 'No product was detected.',
    'motor-fault': 'The machine has a fault.',
    'unknown-slot': 'This selection does not exist.',
    busy: 'The machine is busy; please try again.',
    timeout: 'The machine did not answer.',
    'payment-expired': 'The payment came too late.',
    'payment-failed': 'The payment did not go through.',
    offline: 'The machine is offline.',
    maintenance: 'Maintenance in progress.',
    other: 'Something went wrong.',
  },
};

const de: Messages = {
  idleTitle: 'Zum Kaufen scannen',
  idleHint: 'Am Handy wählen und bezahlen – der Automat gibt die Ware aus.',
  idleSelectFirstHint: 'Wählen Sie am Automaten, dann scannen und bezahlen.',
  idlePayFirstHint: 'Scannen, bezahlen, dann am Automaten wählen.',
  chooseTitle: 'Wählen Sie Ihr Produkt am Automaten',
  chooseCredit: (amount) => `Guthaben ${amount}`,
  aboveCredit: (item) => `${item} kostet mehr als Ihr Guthaben; bitte etwas anderes wählen.`,
  payTitle: 'Zum Bezahlen scannen',
  timeLeft: 'Verbleibende Zeit',
  timeUp: 'Zeit abgelaufen',
  accepted: 'Akzeptiert',
  dispensingTitle: 'Zahlung erhalten',
  dispensingNote: 'Wird ausgegeben, einen Moment …',
  doneTitle: 'Guten Genuss!',
  doneNote: 'Bitte entnehmen Sie Ihre Ware unten im Fach.',
  failedTitle: 'Ausgabe fehlgeschlagen',
  refund: (amount) => `${amount} werden Ihnen erstattet.`,
  timedOutTitle: 'Die Zeit ist abgelaufen',
  notCompletedTitle: 'Der Kauf wurde nicht abgeschlossen',
  nothingCharged: 'Es wurde nichts berechnet.',
  stickerMachine: (id) => `Automat ${id}`,
  unknownDisplayTitle: 'Unbekannte Anzeige',
  unknownDisplayBody: 'Dieses Gateway hat keine Anzeige mit dieser Kennung; bitte die Adresse prüfen.',
  outOfServiceTitle: 'Außer Betrieb',
  outOfServiceBody: 'Bitte entschuldigen Sie die Unannehmlichkeiten.',
  waiting: 'Verbinde …',
  reasons: {
    jammed: 'Das Produkt klemmt.',
    'empty-slot': 'Dieses Produkt ist ausverkauft.',
    'drop-sensor-miss': 'Es wurde kein Produkt erkannt.',
    'motor-fault': 'Der Automat hat eine Störung.',
    'unknown-slot': 'Diese Auswahl gibt es nicht.',
    busy: 'Der Automat ist belegt; bitte erneut versuchen.',
    timeout: 'Der Automat antwortet nicht.',
    'payment-expired': 'Die Zahlung kam zu spät.',
    'payment-failed': 'Die Zahlung ist fehlgeschlagen.',
    offline: 'Der Automat ist offline.',
    maintenance: 'Wartung läuft.',
    other: 'Ein Fehler ist aufgetreten.',
  },
};

const ja: Messages = {
  idleTitle: 'スキャンして購入',
  idleHint: 'スマホで選んで支払うと、商品が出てきます',
  idleSelectFirstHint: '先に機械で商品を選んでから、スキャンしてお支払いください',
  idlePayFirstHint: 'スキャンして支払い、機械で商品をお選びください',
  chooseTitle: '機械で商品をお選びください',
  chooseCredit: (amount) => `残高 ${amount}`,
  aboveCredit: (item) => `${item} は残高を超えています。別の商品をお選びください`,
  payTitle: 'スキャンしてお支払い',
  timeLeft: '残り時間',
  timeUp: '時間切れです',
  accepted: '対応',
  dispensingTitle: 'お支払いを確認しました',
  dispensingNote: '商品をお出ししています。少々お待ちください…',
  doneTitle: 'ありがとうございました',
  doneNote: '取り出し口から商品をお取りください',
  failedTitle: '申し訳ありません。商品をお出しできませんでした',
  refund: (amount) => `${amount}は返金されます`,
  timedOutTitle: '時間切れになりました',
  notCompletedTitle: '購入は完了しませんでした',
  nothingCharged: '料金は請求されていません',
  stickerMachine: (id) => `機械番号 ${id}`,
  unknownDisplayTitle: 'この画面は見つかりません',
  unknownDisplayBody: 'このゲートウェイにこの画面IDはありません。アドレスをご確認ください',
  outOfServiceTitle: '休止中',
  outOfServiceBody: 'ご不便をおかけして申し訳ありません',
  waiting: '接続中…',
  reasons: {
    jammed: '商品が詰まりました',
    'empty-slot': 'この商品は売り切れです',
    'drop-sensor-miss': '商品の落下を検知できませんでした',
    'motor-fault': '機械の故障です',
    'unknown-slot': 'この商品番号はありません',
    busy: 'ただいま混み合っています。もう一度お試しください',
    timeout: '機械が応答しません',
    'payment-expired': 'お支払いの期限が切れました',
    'payment-failed': 'お支払いが完了しませんでした',
    offline: '機械がオフラインです',
    maintenance: 'メンテナンス中',
    other: 'エラーが発生しました',
  },
};

export const MESSAGES: Readonly<Record<Locale, Messages>> = { 'zh-CN': zhCN, en, de, ja };

/** Provider names as customers know them; unknown providers show their id. */
const PROVIDER_NAMES: Record<string, Partial<Record<Locale, string>> & { en: string }> = {
  wechat: { 'zh-CN': '微信支付', en: 'WeChat Pay' },
  alipay: { 'zh-CN': '支付宝', en: 'Alipay' },
  unionpay: { 'zh-CN': '云闪付', en: 'UnionPay' },
  paypay: { ja: 'PayPay', en: 'PayPay' },
  applepay: { en: 'Apple Pay' },
  googlepay: { en: 'Google Pay' },
  paypal: { en: 'PayPal' },
  card: { 'zh-CN': '银行卡', en: 'Card', de: 'Karte', ja: 'カード' },
};

export function providerName(provider: string, locale: Locale): string {
  const names = PROVIDER_NAMES[provider];
  return names ? (names[locale] ?? names.en) : provider;
}

export function reasonText(reason: string, locale: Locale): string {
  return (KNOWN_REASONS as readonly string[]).includes(reason)
    ? MESSAGES[locale].reasons[reason as KnownReason]
    : reason;
}

/** The texts of one screen, ready to be put into elements with textContent. */
export interface ScreenTexts {
  title: string;
  /** A product name, a machine name. */
  subtitle?: string;
  /** The price, formatted. */
  amount?: string;
  /** One more line: a hint, a refund notice, an apology. */
  note?: string;
  /** Why it failed or is out of service. */
  reason?: string;
  countdownLabel?: string;
  timeUp?: string;
  providersLabel?: string;
  providers?: string[];
}

export function screenTexts(screen: DisplayScreen, locale: Locale): ScreenTexts {
  const m = MESSAGES[locale];
  switch (screen.kind) {
    case 'idle':
      return {
        title: m.idleTitle,
        subtitle: screen.machineName,
        note:
          screen.cashless === 'pay-first'
            ? m.idlePayFirstHint
            : screen.cashless === 'select-then-pay'
              ? m.idleSelectFirstHint
              : m.idleHint,
      };
    case 'choose-on-machine':
      return {
        title: m.chooseTitle,
        amount: formatMoney(screen.credit, locale),
        note: m.chooseCredit(formatMoney(screen.credit, locale)),
        ...(screen.denied ? { reason: m.aboveCredit(screen.denied.name) } : {}),
      };
    case 'awaiting-payment':
      return {
        title: m.payTitle,
        subtitle: screen.item.name,
        amount: formatMoney(screen.price, locale),
        countdownLabel: m.timeLeft,
        timeUp: m.timeUp,
        providersLabel: m.accepted,
        providers: screen.providers.map((p) => providerName(p, locale)),
      };
    case 'dispensing':
      return { title: m.dispensingTitle, subtitle: screen.item.name, note: m.dispensingNote };
    case 'done':
      return { title: m.doneTitle, subtitle: screen.item.name, note: m.doneNote };
    case 'failed':
      return failedTexts(screen, locale);
    case 'out-of-service':
      return {
        title: m.outOfServiceTitle,
        reason: reasonText(screen.reason, locale),
        note: m.outOfServiceBody,
      };
  }
}

/** Reasons that mean the customer's time to pay ran out. */
const TIMED_OUT_REASONS: readonly string[] = ['timeout', 'payment-expired'];

/**
 * A failure with a refund says how much comes back. One with nothing to
 * refund was never paid (a session that timed out or was denied before
 * payment): it says so, instead of "the vend failed" and a refund of 0.
 */
function failedTexts(screen: ScreenOf<'failed'>, locale: Locale): ScreenTexts {
  const m = MESSAGES[locale];
  const subtitle = screen.item ? { subtitle: screen.item.name } : {};
  if (screen.refund.amount > 0) {
    return {
      title: m.failedTitle,
      ...subtitle,
      reason: reasonText(screen.reason, locale),
      note: m.refund(formatMoney(screen.refund, locale)),
    };
  }
  if (TIMED_OUT_REASONS.includes(screen.reason)) {
    return { title: m.timedOutTitle, ...subtitle, note: m.nothingCharged };
  }
  return {
    title: m.notCompletedTitle,
    ...subtitle,
    reason: reasonText(screen.reason, locale),
    note: m.nothingCharged,
  };
}

/** The URL a screen shows as a QR code, if any. */
export function screenQrUrl(screen: DisplayScreen): string | undefined {
  if (screen.kind === 'idle') return screen.staticQrUrl;
  if (screen.kind === 'awaiting-payment') return screen.paymentUrl;
  return undefined;
}

export function commandTexts(cmd: RenderCommand): ScreenTexts {
  return screenTexts(cmd.screen, cmd.locale);
}
