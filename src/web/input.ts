/**
 * Keyboard, mouse and touch input for one client.
 */
import Guacamole from 'guacamole-common-js';

/** Keyboard input bound to a document. */
export interface KeyboardBinding {
  /** Releases every key the remote side believes is held. */
  releaseAll(): void;
  /** Stops handling keys (the library cannot remove its listeners; it idles). */
  detach(): void;
}

/**
 * Listens for keys on the whole document, as the Guacamole web application
 * does, so keys reach the remote side whatever inner element has focus, but
 * forwards them only while `isActive()` (the display has focus): typing into
 * the clipboard panel or the host page stays local.
 * @param doc - the document to listen on.
 * @param isActive - whether keys go to the remote side now.
 * @param send - sends one key event.
 */
export function attachKeyboard(
  doc: Document,
  isActive: () => boolean,
  send: (pressed: boolean, keysym: number) => void,
): KeyboardBinding {
  const keyboard = new Guacamole.Keyboard(doc);
  // Keys pressed remotely; each gets its release even if focus moved meanwhile.
  const held = new Set<number>();
  keyboard.onkeydown = (keysym) => {
    if (!isActive()) return true;
    if (isSurrogateKeysym(keysym)) return false;
    held.add(keysym);
    send(true, keysym);
    return false;
  };
  keyboard.onkeyup = (keysym) => {
    if (!held.delete(keysym)) return;
    send(false, keysym);
  };
  return {
    releaseAll(): void {
      keyboard.reset();
      for (const keysym of held) send(false, keysym);
      held.clear();
    },
    detach(): void {
      this.releaseAll();
      keyboard.onkeydown = null;
      keyboard.onkeyup = null;
    },
  };
}

/**
 * `Keyboard.type()` walks strings by UTF-16 unit: after an astral character's
 * keysym it sends one for its low surrogate too, which guacd would type as a
 * stray character. No real key has a surrogate keysym.
 */
function isSurrogateKeysym(keysym: number): boolean {
  return keysym >= 0x0100d800 && keysym <= 0x0100dfff;
}

/** Which touch model to use: direct pointing, or a laptop-style touchpad. */
export type TouchMode = 'touchscreen' | 'touchpad';

/** Mouse and touch input bound to a display element. */
export interface PointerBinding {
  /** Stops sending pointer events. */
  detach(): void;
}

/**
 * Sends mouse and touch events on the display element, in display units
 * (the client divides by the display scale). The remote cursor is drawn as
 * the local CSS cursor when the browser can; otherwise the local cursor is
 * hidden and the display draws the remote one.
 * @param client - the client to send to.
 * @param touch - the touch model.
 */
export function attachPointer(client: Guacamole.Client, touch: TouchMode): PointerBinding {
  const display = client.getDisplay();
  const element = display.getElement();
  const mouse = new Guacamole.Mouse(element);
  const touchInput =
    touch === 'touchpad' ? new Guacamole.Mouse.Touchpad(element) : new Guacamole.Mouse.Touchscreen(element);
  let nativeCursor = false;
  let live = true;

  display.oncursor = (canvas, x, y) => {
    nativeCursor = mouse.setCursor(canvas, x, y);
    element.classList.toggle('gg-software-cursor', !nativeCursor);
  };
  element.classList.add('gg-software-cursor');
  // The cursor layer shows once the pointer is over the display, not at 0,0 before.
  display.showCursor(false);

  const forward = (event: Guacamole.Mouse.Event): void => {
    if (!live) return;
    event.preventDefault();
    display.showCursor(!nativeCursor);
    client.sendMouseState(event.state, true);
  };
  const events = ['mousedown', 'mousemove', 'mouseup'];
  mouse.onEach(events, forward);
  touchInput.onEach(events, forward);
  mouse.on('mouseout', () => {
    if (live) display.showCursor(false);
  });

  return {
    detach(): void {
      live = false;
      display.oncursor = null;
    },
  };
}
