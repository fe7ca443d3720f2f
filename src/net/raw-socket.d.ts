// The slice of raw-socket's API vigil uses (the package ships no types).
declare module 'raw-socket' {
  import type { EventEmitter } from 'node:events';

  export interface RawSocket extends EventEmitter {
    send(
      buffer: Buffer,
      offset: number,
      length: number,
      address: string,
      beforeCallback: (() => void) | null,
      afterCallback: (error: Error | null, bytes: number) => void,
    ): void;
    setOption(level: number, option: number, buffer: Buffer, length: number): void;
    setOption(level: number, option: number, value: number): void;
    close(): void;
    pauseRecv(): void;
    resumeRecv(): void;
    on(event: 'message', listener: (buffer: Buffer, source: string) => void): this;
    on(event: 'error', listener: (error: Error) => void): this;
    on(event: 'close', listener: () => void): this;
  }

  interface RawSocketModule {
    AddressFamily: { IPv4: number; IPv6: number };
    createSocket(options: { addressFamily?: number; protocol?: number; bufferSize?: number }): RawSocket;
  }
  const raw: RawSocketModule;
  export default raw;
}
