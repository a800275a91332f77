/**
 * Puts a client's display in a viewport element, scaled to fit it with the
 * aspect ratio kept, and asks the remote side to follow the viewport's size.
 */
import type Guacamole from 'guacamole-common-js';
import { measureDisplay, type DisplaySize } from './connect-data.js';

/** A display attached to a viewport. */
export interface FittedDisplay {
  /** Rescales the display to the viewport now. */
  fit(): void;
  /** Sends the viewport's size to the remote side now if it changed. */
  syncSize(): void;
  /** Stops observing and takes the display element out of the viewport. */
  detach(): void;
}

/** How a display follows its viewport. */
export interface FitOptions {
  /** The size the session was opened with, so the first resize is not a repeat. */
  readonly initialSize: DisplaySize;
  /** Quiet time after the last resize before `size` is sent (ms). */
  readonly resizeDelayMs?: number;
  /** Whether `size` can be sent now (the client drops it before it is connected). */
  readonly isConnected: () => boolean;
}

/**
 * Attaches the client's display to `viewport`.
 * @param viewport - element the display fills; its size drives scale and `size`.
 * @param client - the Guacamole client whose display to show.
 * @param options - see {@link FitOptions}.
 */
export function attachDisplay(viewport: HTMLElement, client: Guacamole.Client, options: FitOptions): FittedDisplay {
  const display = client.getDisplay();
  const element = display.getElement();
  viewport.appendChild(element);

  let lastSent = options.initialSize;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const fit = (): void => {
    const width = display.getWidth();
    const height = display.getHeight();
    if (width <= 0 || height <= 0) return;
    const scale = Math.min(viewport.clientWidth / width, viewport.clientHeight / height);
    if (Number.isFinite(scale) && scale > 0 && scale !== display.getScale()) display.scale(scale);
  };

  const sendSize = (): void => {
    timer = undefined;
    if (!options.isConnected()) return;
    const size = measureDisplay(viewport);
    if (size.width === lastSent.width && size.height === lastSent.height) return;
    lastSent = size;
    client.sendSize(size.width, size.height);
  };

  display.onresize = fit;
  const observer = new ResizeObserver(() => {
    fit();
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(sendSize, options.resizeDelayMs ?? 250);
  });
  observer.observe(viewport);

  return {
    fit,
    syncSize: sendSize,
    detach(): void {
      observer.disconnect();
      if (timer !== undefined) clearTimeout(timer);
      display.onresize = null;
      element.remove();
    },
  };
}
