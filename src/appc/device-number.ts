// Splitting st_rdev into major and minor numbers, as the C library macros do.

export function deviceNumbers(rdev: number): { devmajor: number; devminor: number } {
  if (process.platform === 'linux') {
    // glibc's gnu_dev_major/minor: 12 + 20 major bits and 8 + 24 minor bits, interleaved.
    const r = BigInt(rdev);
    return {
      devmajor: Number(((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn)),
      devminor: Number((r & 0xffn) | ((r >> 12n) & ~0xffn)),
    };
  }
  // macOS and the BSDs: 8 major bits above 24 minor bits.
  return { devmajor: (rdev >>> 24) & 0xff, devminor: rdev & 0xffffff };
}
