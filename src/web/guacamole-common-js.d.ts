/**
 * Types for the parts of guacamole-common-js 1.5.0 the web client uses.
 * The package ships no types; its ES module build (`dist/esm`) is the
 * concatenated `modules/*.js` with `export default Guacamole`.
 *
 * Why not @types/guacamole-common-js (1.5.5): it describes the UMD build —
 * a global `Guacamole` namespace and each class as a named export — so
 * against the ESM build the default import we need does not type-check,
 * while the named imports it offers type-check and are undefined at run
 * time. Written by hand, the types match what the bundle really exports.
 */
declare module 'guacamole-common-js' {
  namespace Guacamole {
    class Status {
      constructor(code: number, message?: string);
      code: number;
      message: string | undefined;
      isError(): boolean;
    }

    class Tunnel {
      state: number;
      uuid: string | null;
      receiveTimeout: number;
      unstableThreshold: number;
      onerror: ((status: Status) => void) | null;
      onstatechange: ((state: number) => void) | null;
      onuuid: ((uuid: string) => void) | null;
      /** Set by Client; a page may wrap it to read instructions Client ignores. */
      oninstruction: ((opcode: string, args: string[]) => void) | null;
      connect(data?: string): void;
      disconnect(): void;
      sendMessage(...elements: unknown[]): void;
      isConnected(): boolean;
    }
    namespace Tunnel {
      const State: { CONNECTING: 0; OPEN: 1; CLOSED: 2; UNSTABLE: 3 };
    }
    class WebSocketTunnel extends Tunnel {
      constructor(tunnelURL: string);
    }
    class HTTPTunnel extends Tunnel {
      constructor(tunnelURL: string, crossDomain?: boolean, extraTunnelHeaders?: Record<string, string>);
    }
    class ChainedTunnel extends Tunnel {
      constructor(...tunnels: Tunnel[]);
    }

    class Layer {
      getCanvas(): HTMLCanvasElement;
    }

    class Display {
      getElement(): HTMLDivElement;
      getWidth(): number;
      getHeight(): number;
      getDefaultLayer(): Layer;
      scale(scale: number): void;
      getScale(): number;
      showCursor(shown: boolean): void;
      onresize: ((width: number, height: number) => void) | null;
      oncursor: ((canvas: HTMLCanvasElement, x: number, y: number) => void) | null;
    }

    class InputStream {
      index: number;
      onblob: ((data64: string) => void) | null;
      onend: (() => void) | null;
      sendAck(message: string, code: number): void;
    }
    class OutputStream {
      index: number;
      onack: ((status: Status) => void) | null;
      sendBlob(data64: string): void;
      sendEnd(): void;
    }
    class ArrayBufferReader {
      constructor(stream: InputStream);
      ondata: ((data: ArrayBuffer) => void) | null;
      onend: (() => void) | null;
    }
    class JSONReader {
      constructor(stream: InputStream);
      getJSON(): unknown;
      onend: (() => void) | null;
    }
    /** A named object guacd exposes (`filesystem`): `get` reads a path, `put` writes one. */
    class Object {
      index: number;
      requestInputStream(name: string, bodyCallback?: (stream: InputStream, mimetype: string) => void): void;
      createOutputStream(mimetype: string, name: string): OutputStream;
    }
    namespace Object {
      const STREAM_INDEX_MIMETYPE: string;
      const ROOT_STREAM: string;
    }
    class ArrayBufferWriter {
      constructor(stream: OutputStream);
      blobLength: number;
      onack: ((status: Status) => void) | null;
      sendData(data: ArrayBuffer | ArrayBufferView): void;
      sendEnd(): void;
    }

    class Client {
      constructor(tunnel: Tunnel);
      connect(data?: string): void;
      disconnect(): void;
      getDisplay(): Display;
      sendSize(width: number, height: number): void;
      sendKeyEvent(pressed: 0 | 1 | boolean, keysym: number): void;
      sendMouseState(state: Mouse.State, applyDisplayScale?: boolean): void;
      createClipboardStream(mimetype: string): OutputStream;
      /** A `file` stream: an upload where guacd puts dropped files. */
      createFileStream(mimetype: string, filename: string): OutputStream;
      /** guacd offers a file (`file`: guacctl, an RDP drive's Download folder). */
      onfile: ((stream: InputStream, mimetype: string, filename: string) => void) | null;
      /** guacd exposes a filesystem (`filesystem`: SFTP, an RDP drive). */
      onfilesystem: ((object: Object, name: string) => void) | null;
      /** An `argv` stream: the value of connection parameter `name` (answers `required`). */
      createArgumentValueStream(mimetype: string, name: string): OutputStream;
      /** guacd asks for connection parameters it lacks (protocol 1.3.0+). */
      onrequired: ((names: string[]) => void) | null;
      /** guacd's `msg` notifications (protocol 1.5.0+); return false to skip onjoin/onleave. */
      onmsg: ((id: number, args: string[]) => boolean | void) | null;
      onstatechange: ((state: number) => void) | null;
      onerror: ((status: Status) => void) | null;
      onclipboard: ((stream: InputStream, mimetype: string) => void) | null;
      onname: ((name: string) => void) | null;
    }
    namespace Client {
      const State: { IDLE: 0; CONNECTING: 1; WAITING: 2; CONNECTED: 3; DISCONNECTING: 4; DISCONNECTED: 5 };
    }

    class Keyboard {
      constructor(element?: Document | Element);
      onkeydown: ((keysym: number) => boolean | void) | null;
      onkeyup: ((keysym: number) => void) | null;
      reset(): void;
    }

    /** `Guacamole.Mouse.Event.Target`: what Mouse, Touchscreen and Touchpad share. */
    class MouseEventTarget {
      currentState: Mouse.State;
      on(type: string, listener: (event: Mouse.Event) => void): void;
      onEach(types: string[], listener: (event: Mouse.Event) => void): void;
      reset(): void;
    }
    class Mouse extends MouseEventTarget {
      constructor(element: Element);
      setCursor(canvas: HTMLCanvasElement, x: number, y: number): boolean;
    }
    namespace Mouse {
      class State {
        x: number;
        y: number;
        left: boolean;
        middle: boolean;
        right: boolean;
        up: boolean;
        down: boolean;
      }
      class Event {
        type: string;
        state: State;
        preventDefault(): void;
        stopPropagation(): void;
      }
      class Touchscreen extends MouseEventTarget {
        constructor(element: Element);
      }
      class Touchpad extends MouseEventTarget {
        constructor(element: Element);
      }
    }

    /** Plays a recording fetched over HTTP (the player page; a tunnel that only reads). */
    class StaticHTTPTunnel extends Tunnel {
      constructor(url: string, crossDomain?: boolean, extraTunnelHeaders?: Record<string, string>);
      oninstruction: ((opcode: string, args: string[]) => void) | null;
    }

    /**
     * A recording played into its own display. 1.5.0: built on a tunnel (its
     * Blob constructor path is broken in 1.5.0: it parses an unset blob); no
     * speed control and no key events of its own.
     */
    class SessionRecording {
      constructor(source: Tunnel);
      connect(data?: string): void;
      disconnect(): void;
      abort(): void;
      getDisplay(): Display;
      isPlaying(): boolean;
      /** ms from the first frame. */
      getPosition(): number;
      getDuration(): number;
      play(): void;
      pause(): void;
      seek(position: number, callback?: () => void): void;
      onload: (() => void) | null;
      onerror: ((message: string) => void) | null;
      onprogress: ((duration: number, parsedSize: number) => void) | null;
      onseek: ((position: number, current: number, total: number) => void) | null;
    }
  }
  export default Guacamole;
}
