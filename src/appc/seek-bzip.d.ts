// Typings for the parts of seek-bzip (pure JS bzip2, no types shipped) that
// bzip2-stream.ts drives block by block.
declare module 'seek-bzip' {
  interface ByteInput {
    readByte(): number;
    read(buffer: Uint8Array, offset: number, length: number): number;
    eof(): boolean;
  }
  interface ByteOutput {
    writeByte(byte: number): void;
  }
  interface BunzipState {
    streamCRC: number;
    reader: { read(bits: number): number };
    _init_block(): boolean;
    _read_bunzip(): number;
    _start_bunzip(input: ByteInput, output: ByteOutput): void;
  }
  interface BunzipConstructor {
    new (input: ByteInput, output: ByteOutput): BunzipState;
    Stream: new () => ByteInput & ByteOutput;
  }
  const Bunzip: BunzipConstructor;
  export default Bunzip;
}
