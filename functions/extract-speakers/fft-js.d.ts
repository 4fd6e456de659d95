/**
 * Strict types for the parts of fft.js (4.0.4) tether uses. The package ships a generated
 * declaration whose parameters are all `any`; this ambient declaration takes precedence so
 * the compiler checks our calls. API: https://github.com/indutny/fft.js#usage
 */
declare module "fft.js" {
  class FFT {
    /** `size` must be a power of two greater than 1. */
    constructor(size: number);
    readonly size: number;
    /** An interleaved [re, im, re, im, ...] array of `2 * size` zeros. */
    createComplexArray(): number[];
    /** Transforms `size` real samples; fills only the first half (bins 0..size/2) of `out`. */
    realTransform(out: number[] | Float64Array, data: ArrayLike<number>): void;
    /** Mirrors the first half of a real transform's output into the second half. */
    completeSpectrum(spectrum: number[] | Float64Array): void;
    /** Complex forward transform of interleaved `data` into `out`. */
    transform(out: number[] | Float64Array, data: ArrayLike<number>): void;
    /** Complex inverse transform (scaled by 1/size) of interleaved `data` into `out`. */
    inverseTransform(out: number[] | Float64Array, data: ArrayLike<number>): void;
  }
  export = FFT;
}
