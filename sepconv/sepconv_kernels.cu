// Adaptive separable convolution (SepConv) CUDA kernels.
//
//   O[b,c,y,x] = sum_{i,j<K} X[b,c,y+i,x+j] * V[b,i,y,x] * H[b,j,y,x]
//
// X is the padded input [B, C, H+K-1, W+K-1]; V and H are [B, K, H, W];
// O is [B, C, H, W]. Sizes, element strides and K are run-time arguments, so
// one binary serves every shape. Three stride sets are passed: xs* for X and
// its gradient, ks* for V, H and their gradients, os* for O and its gradient
// (tensors of the same shape must share strides; the Python side makes
// everything contiguous). All index arithmetic is 64-bit and every kernel is
// a grid-stride loop, so any launch configuration covers any size.
// Float tensors accumulate in float, double tensors in double.
// The file needs no headers: it compiles with nvcc and with NVRTC.

typedef long long i64;

__device__ __forceinline__ i64 sc_min(i64 a, i64 b) { return a < b ? a : b; }
__device__ __forceinline__ i64 sc_max(i64 a, i64 b) { return a > b ? a : b; }

#define SC_GRID_LOOP(n, total)                                               \
    for (i64 n = (i64)blockIdx.x * blockDim.x + threadIdx.x; n < (total);    \
         n += (i64)gridDim.x * blockDim.x)

#define SC_STRIDES                                                           \
    i64 xsb, i64 xsc, i64 xsy, i64 xsx, i64 ksb, i64 ksk, i64 ksy, i64 ksx,  \
    i64 osb, i64 osc, i64 osy, i64 osx

// One thread per output element (b, c, y, x).
template <typename T>
__device__ __forceinline__ void forward_impl(
    const T* __restrict__ x, const T* __restrict__ v, const T* __restrict__ h,
    T* __restrict__ out, i64 B, i64 C, i64 H, i64 W, i64 K, SC_STRIDES) {
    SC_GRID_LOOP(n, B * C * H * W) {
        i64 px = n % W, r = n / W;
        i64 py = r % H; r /= H;
        i64 c = r % C, b = r / C;
        const T* xp = x + b * xsb + c * xsc + py * xsy + px * xsx;
        const T* vp = v + b * ksb + py * ksy + px * ksx;
        const T* hp = h + b * ksb + py * ksy + px * ksx;
        T acc = 0;
        for (i64 i = 0; i < K; ++i) {
            T row = 0;
            for (i64 j = 0; j < K; ++j) row += xp[i * xsy + j * xsx] * hp[j * ksk];
            acc += row * vp[i * ksk];
        }
        out[b * osb + c * osc + py * osy + px * osx] = acc;
    }
}

// One thread per padded-input element (b, c, p, q): gathers every output
// (y, x) = (p-i, q-j) that read it. No atomics.
template <typename T>
__device__ __forceinline__ void grad_input_impl(
    const T* __restrict__ gout, const T* __restrict__ v, const T* __restrict__ h,
    T* __restrict__ gx, i64 B, i64 C, i64 H, i64 W, i64 K, SC_STRIDES) {
    const i64 P = H + K - 1, Q = W + K - 1;
    SC_GRID_LOOP(n, B * C * P * Q) {
        i64 q = n % Q, r = n / Q;
        i64 p = r % P; r /= P;
        i64 c = r % C, b = r / C;
        const i64 i_lo = sc_max(0, p - (H - 1)), i_hi = sc_min(K - 1, p);
        const i64 j_lo = sc_max(0, q - (W - 1)), j_hi = sc_min(K - 1, q);
        T acc = 0;
        for (i64 i = i_lo; i <= i_hi; ++i) {
            const i64 py = p - i;
            for (i64 j = j_lo; j <= j_hi; ++j) {
                const i64 px = q - j;
                const i64 ko = b * ksb + py * ksy + px * ksx;
                acc += gout[b * osb + c * osc + py * osy + px * osx]
                       * v[ko + i * ksk] * h[ko + j * ksk];
            }
        }
        gx[b * xsb + c * xsc + p * xsy + q * xsx] = acc;
    }
}

// One thread per kernel tap (b, t, y, x). vertical=true: t is the row tap i
// and the gradient is sum_c gO * sum_j X[y+i, x+j] H_j; otherwise t is the
// column tap j and it is sum_c gO * sum_i X[y+i, x+j] V_i. `other` is the
// kernel not being differentiated (H for vertical, V for horizontal).
template <typename T>
__device__ __forceinline__ void grad_kernel_impl(
    const T* __restrict__ gout, const T* __restrict__ x, const T* __restrict__ other,
    T* __restrict__ gk, bool vertical, i64 B, i64 C, i64 H, i64 W, i64 K, SC_STRIDES) {
    SC_GRID_LOOP(n, B * K * H * W) {
        i64 px = n % W, r = n / W;
        i64 py = r % H; r /= H;
        i64 t = r % K, b = r / K;
        const T* op = other + b * ksb + py * ksy + px * ksx;
        // Stepping u over the other kernel's taps moves X along the other axis.
        const i64 fixed = vertical ? t * xsy : t * xsx;
        const i64 step = vertical ? xsx : xsy;
        T acc = 0;
        for (i64 c = 0; c < C; ++c) {
            const T* xp = x + b * xsb + c * xsc + py * xsy + px * xsx + fixed;
            T inner = 0;
            for (i64 u = 0; u < K; ++u) inner += xp[u * step] * op[u * ksk];
            acc += gout[b * osb + c * osc + py * osy + px * osx] * inner;
        }
        gk[b * ksb + t * ksk + py * ksy + px * ksx] = acc;
    }
}

#define SC_ARGS i64 B, i64 C, i64 H, i64 W, i64 K, SC_STRIDES
#define SC_PASS B, C, H, W, K, xsb, xsc, xsy, xsx, ksb, ksk, ksy, ksx, osb, osc, osy, osx

#define SC_DEFINE(SUFFIX, T)                                                              \
extern "C" __global__ void sepconv_forward_##SUFFIX(                                      \
    const T* x, const T* v, const T* h, T* out, SC_ARGS) {                                \
    forward_impl<T>(x, v, h, out, SC_PASS);                                               \
}                                                                                         \
extern "C" __global__ void sepconv_grad_input_##SUFFIX(                                   \
    const T* gout, const T* v, const T* h, T* gx, SC_ARGS) {                              \
    grad_input_impl<T>(gout, v, h, gx, SC_PASS);                                          \
}                                                                                         \
extern "C" __global__ void sepconv_grad_vertical_##SUFFIX(                                \
    const T* gout, const T* x, const T* h, T* gv, SC_ARGS) {                              \
    grad_kernel_impl<T>(gout, x, h, gv, true, SC_PASS);                                   \
}                                                                                         \
extern "C" __global__ void sepconv_grad_horizontal_##SUFFIX(                              \
    const T* gout, const T* x, const T* v, T* gh, SC_ARGS) {                              \
    grad_kernel_impl<T>(gout, x, v, gh, false, SC_PASS);                                  \
}

SC_DEFINE(f32, float)
SC_DEFINE(f64, double)
