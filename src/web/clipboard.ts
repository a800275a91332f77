/**
 * Clipboard both ways. Text travels as UTF-8 through TextEncoder and
 * TextDecoder: guacamole-common-js 1.5.0's StringWriter encodes each UTF-16
 * unit separately (an emoji becomes two 3-byte surrogates) and its
 * UTF8Parser truncates code points above U+FFFF, so both are avoided.
 */
import Guacamole from 'guacamole-common-js';

/**
 * Sends text to the remote clipboard as a `text/plain` stream.
 * @param client - a connected client.
 * @param text - the text, any Unicode.
 */
export function sendClipboardText(client: Guacamole.Client, text: string): void {
  const writer = new Guacamole.ArrayBufferWriter(client.createClipboardStream('text/plain'));
  writer.sendData(new TextEncoder().encode(text));
  writer.sendEnd();
}

/**
 * Reads a clipboard stream from the remote side. Non-text streams are
 * declined with `UNSUPPORTED`.
 * @param stream - the stream `client.onclipboard` received.
 * @param mimetype - its type.
 * @param onText - called once with the whole text when the stream ends.
 */
export function receiveClipboard(stream: Guacamole.InputStream, mimetype: string, onText: (text: string) => void): void {
  if (!/^text\//i.test(mimetype)) {
    stream.sendAck('Only text clipboard data is supported', 0x0100);
    return;
  }
  const reader = new Guacamole.ArrayBufferReader(stream);
  const decoder = new TextDecoder('utf-8');
  let text = '';
  reader.ondata = (data) => {
    text += decoder.decode(data, { stream: true });
  };
  reader.onend = () => {
    onText(text + decoder.decode());
  };
}

/** The clipboard of one mounted client: local side, panel and remote side. */
export interface ClipboardSync {
  /** Takes text the remote side put on its clipboard. */
  fromRemote(text: string): void;
  /** Offers the local clipboard to the remote side (on focus), if readable. */
  pullLocal(): void;
  /** Offers text the user pasted or typed locally. */
  fromLocal(text: string): void;
  /** Sends the current text to a newly connected session. */
  resend(): void;
}

/**
 * Keeps the panel's textarea, the browser clipboard (where permitted) and
 * the remote clipboard in step.
 * @param textarea - the clipboard panel's text field (the fallback when the
 *   browser does not let the page read or write its clipboard).
 * @param send - sends text to the remote side; false if not connected.
 */
export function createClipboardSync(textarea: HTMLTextAreaElement, send: (text: string) => boolean): ClipboardSync {
  let current = '';
  let timer: ReturnType<typeof setTimeout> | undefined;
  const clipboard = (): Clipboard | undefined => textarea.ownerDocument.defaultView?.navigator.clipboard;

  const offer = (text: string): void => {
    if (text === current) return;
    current = text;
    if (textarea.value !== text) textarea.value = text;
    send(text);
  };

  textarea.addEventListener('input', () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => offer(textarea.value), 250);
  });
  textarea.addEventListener('change', () => offer(textarea.value));

  return {
    fromRemote(text: string): void {
      current = text;
      textarea.value = text;
      // Writing needs focus and, in an iframe, allow="clipboard-write".
      if (textarea.ownerDocument.hasFocus()) clipboard()?.writeText(text).catch(() => undefined);
    },
    pullLocal(): void {
      const api = clipboard();
      if (!api?.readText) return;
      void readPermitted(textarea.ownerDocument).then((permitted) => {
        if (!permitted) return;
        return api.readText().then(
          (text) => {
            if (text !== '') offer(text);
          },
          () => undefined,
        );
      });
    },
    fromLocal(text: string): void {
      offer(text);
    },
    resend(): void {
      if (current !== '') send(current);
    },
  };
}

async function readPermitted(doc: Document): Promise<boolean> {
  const permissions = doc.defaultView?.navigator.permissions;
  if (!permissions) return true;
  try {
    const status = await permissions.query({ name: 'clipboard-read' as PermissionName });
    return status.state !== 'denied';
  } catch {
    return true; // Browsers without that permission name decide on the read itself.
  }
}
