/**
 * What one SSE event carries to a kiosk page: the texts of the screen in the
 * display's language (see devices/display/messages.ts), the QR code as an
 * SVG data URL generated here with `qrcode`, and the deadline for the live
 * countdown. The page puts texts in with textContent and the QR in an <img>,
 * so nothing from an order can become markup.
 */
import { type ScreenTexts, screenQrUrl, screenTexts } from '../../devices/display/messages.ts';
import type { Locale, RenderCommand, ScreenKind } from '../../devices/display/port.ts';
import { renderQrSvg, svgDataUrl } from '../../devices/display/qr.ts';

export interface KioskView {
  displayId: string;
  seq: number;
  locale: Locale;
  kind: ScreenKind;
  /** Server time of the render, for the page's clock-skew correction. */
  at: number;
  /** Epoch ms the countdown runs to (awaiting payment only). */
  deadline?: number;
  texts: ScreenTexts;
  qr?: { src: string; modules: number };
}

const cache = new WeakMap<RenderCommand, Promise<KioskView>>();

/** The view of a render; computed once per render however many pages watch it. */
export function kioskView(render: RenderCommand): Promise<KioskView> {
  let v = cache.get(render);
  if (!v) {
    v = buildView(render);
    cache.set(render, v);
  }
  return v;
}

async function buildView(render: RenderCommand): Promise<KioskView> {
  const { screen } = render;
  const view: KioskView = {
    displayId: render.displayId,
    seq: render.seq,
    locale: render.locale,
    kind: screen.kind,
    at: render.at,
    texts: screenTexts(screen, render.locale),
  };
  if (screen.kind === 'awaiting-payment') view.deadline = screen.deadline;
  const url = screenQrUrl(screen);
  if (url !== undefined) {
    const qr = await renderQrSvg(url, { level: 'M' });
    view.qr = { src: svgDataUrl(qr.svg), modules: qr.modules };
  }
  return view;
}
