// One MBConv block in one pass over its input, for inference on the CPU (fp32, NHWC).
//
// For each strip of output rows the expand 1x1 (+ folded BN, activation) fills a ring of k input
// rows, the depthwise kxk (+ activation) reads them into one output row, and the projection 1x1
// (+ residual) writes only the block's narrow output: the 6x-wide tensors stay in cache. Blocks
// with squeeze-excitation need the pooled mean before projecting, so they take two passes: the
// first accumulates the pooled sums (and, in "store" mode, keeps the depthwise output), the second
// recomputes (or reads) each row, scales it by the gate and projects.
//
// Built with -march=native: the AVX-512 path where the compiler targets it, else AVX2 + FMA.
#include <ATen/Parallel.h>
#include <immintrin.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/csrc/utils/pybind.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#if defined(__AVX512F__)
typedef __m512 vf;
constexpr int VL = 16;
#define FUSED_NVMAX 4
constexpr int NVMAX = FUSED_NVMAX;
static inline vf vload(const float* p) { return _mm512_loadu_ps(p); }
static inline void vstore(float* p, vf v) { _mm512_storeu_ps(p, v); }
static inline vf vset1(float x) { return _mm512_set1_ps(x); }
static inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vfnma(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); }
static inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf vmin(vf a, vf b) { return _mm512_min_ps(a, b); }
static inline vf vround(vf a) {
  return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
static inline vf vpow2n(vf p, vf n) { return _mm512_scalef_ps(p, n); }
static inline vf vrcp(vf a) { return _mm512_rcp14_ps(a); }
#elif defined(__AVX2__) && defined(__FMA__)
typedef __m256 vf;
constexpr int VL = 8;
#define FUSED_NVMAX 2
constexpr int NVMAX = FUSED_NVMAX;
static inline vf vload(const float* p) { return _mm256_loadu_ps(p); }
static inline void vstore(float* p, vf v) { _mm256_storeu_ps(p, v); }
static inline vf vset1(float x) { return _mm256_set1_ps(x); }
static inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vfnma(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); }
static inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf vmin(vf a, vf b) { return _mm256_min_ps(a, b); }
static inline vf vround(vf a) {
  return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
static inline vf vpow2n(vf p, vf n) {
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}
static inline vf vrcp(vf a) { return _mm256_rcp_ps(a); }
#else
#error "the fused MBConv kernel needs AVX2 and FMA (or AVX-512)"
#endif

enum Act { ACT_NONE = 0, ACT_SILU = 1, ACT_RELU = 2, ACT_RELU6 = 3 };

// exp(x): Cody-Waite range reduction, degree-6 polynomial on [-ln2/2, ln2/2] (rel. error ~2e-7).
static inline vf vexp(vf x) {
  x = vmin(vmax(x, vset1(-87.0f)), vset1(88.0f));
  vf n = vround(vmul(x, vset1(1.44269504088896341f)));
  vf r = vfnma(n, vset1(0.693359375f), x);
  r = vfnma(n, vset1(-2.12194440e-4f), r);
  vf p = vset1(1.0f / 720);
  p = vfma(p, r, vset1(1.0f / 120));
  p = vfma(p, r, vset1(1.0f / 24));
  p = vfma(p, r, vset1(1.0f / 6));
  p = vfma(p, r, vset1(0.5f));
  p = vfma(p, r, vset1(1.0f));
  p = vfma(p, r, vset1(1.0f));
  return vpow2n(p, n);
}

static inline vf activate(vf v, int act) {
  switch (act) {
    case ACT_SILU: {
      // v / (1 + exp(-v)): an approximate reciprocal and one Newton step (a division is ~4x
      // slower, and SiLU runs twice on every element of the expanded tensor).
      vf d = vadd(vset1(1.0f), vexp(vmul(v, vset1(-1.0f))));
      vf r = vrcp(d);
      r = vmul(r, vfnma(d, r, vset1(2.0f)));
      return vmul(v, r);
    }
    case ACT_RELU:
      return vmax(v, vset1(0.0f));
    case ACT_RELU6:
      return vmin(vmax(v, vset1(0.0f)), vset1(6.0f));
    default:
      return v;
  }
}

static inline float activate1(float v, int act) {
  switch (act) {
    case ACT_SILU:
      return v / (1.0f + std::exp(-v));
    case ACT_RELU:
      return std::max(v, 0.0f);
    case ACT_RELU6:
      return std::min(std::max(v, 0.0f), 6.0f);
    default:
      return v;
  }
}

// C[P x NV*VL] = act(bias + A[P x K] * B[K x NV*VL]); accumulators stay in registers.
template <int P, int NV>
static void micro(const float* A, int lda, int K, const float* B, int ldb, const float* bias,
                  float* C, int ldc, int act) {
  vf acc[P][NV];
  for (int v = 0; v < NV; ++v) {
    vf b = vload(bias + v * VL);
    for (int p = 0; p < P; ++p) acc[p][v] = b;
  }
  for (int k = 0; k < K; ++k) {
    vf b[NV];
    for (int v = 0; v < NV; ++v) b[v] = vload(B + (size_t)k * ldb + v * VL);
    for (int p = 0; p < P; ++p) {
      vf a = vset1(A[(size_t)p * lda + k]);
      for (int v = 0; v < NV; ++v) acc[p][v] = vfma(a, b[v], acc[p][v]);
    }
  }
  for (int p = 0; p < P; ++p)
    for (int v = 0; v < NV; ++v) vstore(C + (size_t)p * ldc + v * VL, activate(acc[p][v], act));
}

typedef void (*MicroFn)(const float*, int, int, const float*, int, const float*, float*, int, int);

template <int P>
static MicroFn micro_for(int nv) {
  switch (nv) {
    case 1: return micro<P, 1>;
#if FUSED_NVMAX >= 4
    case 2: return micro<P, 2>;
    case 3: return micro<P, 3>;
    default: return micro<P, 4>;
#else
    default: return micro<P, 2>;
#endif
  }
}

// Pixels per micro-kernel call for `nv` vectors of outputs: as many accumulators as the registers
// hold (a narrow projection, one or two vectors wide, needs many pixels to keep the FMAs busy).
static int pixels_for(int nv) {
#if FUSED_NVMAX >= 4
  return nv <= 2 ? 12 : (nv == 3 ? 8 : 6);
#else
  return nv == 1 ? 12 : 6;
#endif
}

static MicroFn pick(int p, int nv) {
  switch (p) {
    case 1: return micro_for<1>(nv);
    case 2: return micro_for<2>(nv);
    case 3: return micro_for<3>(nv);
    case 4: return micro_for<4>(nv);
    case 5: return micro_for<5>(nv);
    case 6: return micro_for<6>(nv);
    case 7: return micro_for<7>(nv);
    case 8: return micro_for<8>(nv);
    case 9: return micro_for<9>(nv);
    case 10: return micro_for<10>(nv);
    case 11: return micro_for<11>(nv);
    default: return micro_for<12>(nv);
  }
}

// Rows of a 1x1 conv: C[M x N] = act(bias + A[M x K] * B[K x N]), N a multiple of VL.
static void gemm(const float* A, int lda, int M, int K, const float* B, int N, const float* bias,
                 float* C, int ldc, int act) {
  for (int n0 = 0; n0 < N; n0 += NVMAX * VL) {
    int nv = std::min(NVMAX, (N - n0) / VL), pmax = pixels_for(nv);
    for (int m0 = 0; m0 < M; m0 += pmax) {
      int p = std::min(pmax, M - m0);
      pick(p, nv)(A + (size_t)m0 * lda, lda, K, B + n0, N, bias + n0, C + (size_t)m0 * ldc + n0,
                  ldc, act);
    }
  }
}

struct Block {
  const float* x;      // [N, H, W, cin]
  const float* we;     // [cin, cp] (null: no expansion, cin == cmid)
  const float* be;     // [cp]
  const float* wd;     // [k*k, cp]
  const float* bd;     // [cp]
  const float* wp;     // [cmid, op]
  const float* bp;     // [op]
  float* out;          // [N, ho, wo, cout]
  int n, h, w, cin, cmid, cp, cout, op, k, stride, pt, pl, ho, wo, act;
  bool skip;
};

// One strip of output rows of image `img`; `gate` (per channel, or null) scales the depthwise
// output; `sums` (or null) accumulates it; `keep` (or null) stores it; `from` (or null) supplies it
// instead of recomputing; project=false stops after the depthwise conv.
struct Strip {
  int img, oy0, oy1;
};

static void expand_row(const Block& b, int img, int iy, float* dst) {
  const float* src = b.x + ((size_t)img * b.h + iy) * b.w * b.cin;
  if (b.we) {
    gemm(src, b.cin, b.w, b.cin, b.we, b.cp, b.be, dst, b.cp, b.act);
    return;
  }
  for (int x = 0; x < b.w; ++x) {
    std::copy(src + (size_t)x * b.cin, src + (size_t)(x + 1) * b.cin, dst + (size_t)x * b.cp);
    std::fill(dst + (size_t)x * b.cp + b.cin, dst + (size_t)(x + 1) * b.cp, 0.0f);
  }
}

// One output pixel's taps for one channel vector.
static inline vf dw_pixel(const Block& b, const float* const* rows, int x0, int c) {
  const int k = b.k, cp = b.cp;
  int dx0 = std::max(0, -x0), dx1 = std::min(k, b.w - x0);
  vf acc = vload(b.bd + c);
  for (int dy = 0; dy < k; ++dy) {
    const float* r = rows[dy];
    if (!r) continue;
    for (int dx = dx0; dx < dx1; ++dx)
      acc = vfma(vload(r + (size_t)(x0 + dx) * cp + c), vload(b.wd + (dy * k + dx) * cp + c), acc);
  }
  return acc;
}

// Four output pixels whose taps all lie inside the row: each weight load serves four FMAs.
static inline void dw_four(const Block& b, const float* const* rows, int x0, int c, vf* acc) {
  const int k = b.k, cp = b.cp;
  const size_t step = (size_t)b.stride * cp;
  for (int i = 0; i < 4; ++i) acc[i] = vload(b.bd + c);
  for (int dy = 0; dy < k; ++dy) {
    const float* r = rows[dy];
    if (!r) continue;
    for (int dx = 0; dx < k; ++dx) {
      vf wv = vload(b.wd + (dy * k + dx) * cp + c);
      const float* p = r + (size_t)(x0 + dx) * cp + c;
      for (int i = 0; i < 4; ++i) acc[i] = vfma(vload(p + i * step), wv, acc[i]);
    }
  }
}

static void depthwise_row(const Block& b, const float* const* rows, const float* gate, float* dst) {
  const int cp = b.cp;
  int ox = 0;
  while (ox < b.wo) {
    int x0 = ox * b.stride - b.pl;
    bool four = ox + 4 <= b.wo && x0 >= 0 && (ox + 3) * b.stride - b.pl + b.k <= b.w;
    int n = four ? 4 : 1;
    for (int c = 0; c < cp; c += VL) {
      vf acc[4];
      if (four)
        dw_four(b, rows, x0, c, acc);
      else
        acc[0] = dw_pixel(b, rows, x0, c);
      for (int i = 0; i < n; ++i) {
        vf v = activate(acc[i], b.act);
        if (gate) v = vmul(v, vload(gate + c));
        vstore(dst + (size_t)(ox + i) * cp + c, v);
      }
    }
    ox += n;
  }
}

static void project_row(const Block& b, int img, int oy, const float* dw, float* tmp) {
  gemm(dw, b.cp, b.wo, b.cmid, b.wp, b.op, b.bp, tmp, b.op, ACT_NONE);
  float* o = b.out + ((size_t)img * b.ho + oy) * b.wo * b.cout;
  const float* res = b.x + ((size_t)img * b.h + oy) * b.w * b.cin;
  for (int ox = 0; ox < b.wo; ++ox)
    for (int c = 0; c < b.cout; ++c)
      o[(size_t)ox * b.cout + c] =
          tmp[(size_t)ox * b.op + c] + (b.skip ? res[(size_t)ox * b.cin + c] : 0.0f);
}

struct Pass {
  const float* gate = nullptr;  // [N, cp]
  float* sums = nullptr;        // [cp] for this strip
  float* keep = nullptr;        // [N, ho, wo, cp]
  const float* from = nullptr;  // [N, ho, wo, cp]
  bool project = true;
};

static void run_strip(const Block& b, const Strip& s, const Pass& pass) {
  const size_t row = (size_t)b.w * b.cp, orow = (size_t)b.wo * b.cp;
  std::vector<float> ring(pass.from ? 0 : row * b.k), dw(orow), tmp((size_t)b.wo * b.op);
  const float* gate = pass.gate ? pass.gate + (size_t)s.img * b.cp : nullptr;
  std::vector<const float*> rows(b.k);
  int next = -1;  // first input row not yet expanded
  for (int oy = s.oy0; oy < s.oy1; ++oy) {
    const float* d = dw.data();
    if (pass.from) {
      const float* src = pass.from + ((size_t)s.img * b.ho + oy) * orow;
      for (size_t i = 0; i < orow; i += VL)
        vstore(dw.data() + i, vmul(vload(src + i), vload(gate + i % b.cp)));
    } else {
      int lo = oy * b.stride - b.pt;
      next = std::max(next, std::max(lo, 0));
      for (; next <= std::min(lo + b.k - 1, b.h - 1); ++next)
        expand_row(b, s.img, next, ring.data() + (next % b.k) * row);
      for (int dy = 0; dy < b.k; ++dy) {
        int iy = lo + dy;
        rows[dy] = (iy >= 0 && iy < b.h) ? ring.data() + (iy % b.k) * row : nullptr;
      }
      depthwise_row(b, rows.data(), gate, dw.data());
    }
    if (pass.sums)
      for (int ox = 0; ox < b.wo; ++ox)
        for (int c = 0; c < b.cp; c += VL)
          vstore(pass.sums + c, vadd(vload(pass.sums + c), vload(d + (size_t)ox * b.cp + c)));
    if (pass.keep)
      std::copy(d, d + orow, pass.keep + ((size_t)s.img * b.ho + oy) * orow);
    if (pass.project) project_row(b, s.img, oy, d, tmp.data());
  }
}

// Strips: whole images when there are enough to keep every thread busy, else each image cut into
// row strips (the k-1 halo rows of each cut are expanded twice).
static std::vector<Strip> strips(const Block& b) {
  int threads = at::get_num_threads();
  int per = std::max(1, std::min(b.ho, (2 * threads + b.n - 1) / b.n));
  if (b.n >= 2 * threads) per = 1;
  std::vector<Strip> out;
  for (int i = 0; i < b.n; ++i)
    for (int j = 0; j < per; ++j)
      out.push_back({i, b.ho * j / per, b.ho * (j + 1) / per});
  return out;
}

static void for_strips(const std::vector<Strip>& ss, const std::function<void(int64_t)>& fn) {
  at::parallel_for(0, (int64_t)ss.size(), 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) fn(i);
  });
}

// SE gates per image: sigmoid(wx . act(wr . mean + br) + bx), padded to cp with zeros.
static std::vector<float> se_gates(const Block& b, const std::vector<float>& sums,
                                   const std::vector<Strip>& ss, const at::Tensor& wr,
                                   const at::Tensor& br, const at::Tensor& wx,
                                   const at::Tensor& bx) {
  const int rs = (int)wr.size(0);
  const float *pwr = wr.data_ptr<float>(), *pbr = br.data_ptr<float>();
  const float *pwx = wx.data_ptr<float>(), *pbx = bx.data_ptr<float>();
  std::vector<float> mean((size_t)b.n * b.cp, 0.0f), gate((size_t)b.n * b.cp, 0.0f), r(rs);
  for (size_t i = 0; i < ss.size(); ++i)
    for (int c = 0; c < b.cp; ++c) mean[(size_t)ss[i].img * b.cp + c] += sums[i * b.cp + c];
  const float inv = 1.0f / (float)(b.ho * b.wo);
  for (int img = 0; img < b.n; ++img) {
    const float* m = mean.data() + (size_t)img * b.cp;
    for (int j = 0; j < rs; ++j) {
      double acc = pbr[j];
      for (int c = 0; c < b.cmid; ++c) acc += (double)pwr[(size_t)j * b.cmid + c] * m[c] * inv;
      r[j] = activate1((float)acc, b.act);
    }
    for (int c = 0; c < b.cmid; ++c) {
      float acc = pbx[c];
      for (int j = 0; j < rs; ++j) acc += pwx[(size_t)c * rs + j] * r[j];
      gate[(size_t)img * b.cp + c] = 1.0f / (1.0f + std::exp(-acc));
    }
  }
  return gate;
}

static const float* ptr(const at::Tensor& t) {
  return t.numel() ? t.data_ptr<float>() : nullptr;
}

// x: [N, H, W, cin] contiguous (a channels_last NCHW tensor's memory). Weights packed by
// effnet.deploy.fused. se: {wr [rs, cmid], br [rs], wx [cmid, rs], bx [cmid]} or empty.
at::Tensor mbconv(at::Tensor x, at::Tensor we, at::Tensor be, at::Tensor wd,
                     at::Tensor bd, at::Tensor wp, at::Tensor bp,
                     std::vector<at::Tensor> se, std::vector<int64_t> geometry, int64_t act,
                     bool skip, bool se_store) {
  TORCH_CHECK(x.dtype() == at::kFloat && x.is_contiguous(), "x: contiguous fp32 NHWC");
  Block b;
  b.n = x.size(0), b.h = x.size(1), b.w = x.size(2), b.cin = x.size(3);
  b.k = geometry[0], b.stride = geometry[1], b.pt = geometry[2], b.pl = geometry[3];
  b.ho = geometry[4], b.wo = geometry[5], b.cmid = geometry[6], b.cout = geometry[7];
  b.cp = wd.size(1), b.op = wp.size(1), b.act = (int)act, b.skip = skip;
  TORCH_CHECK(b.cp % VL == 0 && b.op % VL == 0, "weights not padded to the vector width");
  auto out = at::empty({b.n, b.ho, b.wo, b.cout}, x.options());
  b.x = x.data_ptr<float>(), b.we = ptr(we), b.be = ptr(be), b.wd = wd.data_ptr<float>();
  b.bd = bd.data_ptr<float>(), b.wp = wp.data_ptr<float>(), b.bp = bp.data_ptr<float>();
  b.out = out.data_ptr<float>();
  auto ss = strips(b);
  if (se.empty()) {
    for_strips(ss, [&](int64_t i) { run_strip(b, ss[i], Pass{}); });
    return out;
  }
  std::vector<float> sums(ss.size() * b.cp, 0.0f);
  std::vector<float> keep(se_store ? (size_t)b.n * b.ho * b.wo * b.cp : 0);
  for_strips(ss, [&](int64_t i) {
    Pass p;
    p.sums = sums.data() + i * b.cp, p.project = false;
    p.keep = se_store ? keep.data() : nullptr;
    run_strip(b, ss[i], p);
  });
  auto gate = se_gates(b, sums, ss, se[0], se[1], se[2], se[3]);
  for_strips(ss, [&](int64_t i) {
    Pass p;
    p.gate = gate.data(), p.from = se_store ? keep.data() : nullptr;
    run_strip(b, ss[i], p);
  });
  return out;
}

int64_t vector_width() { return VL; }

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("mbconv", &mbconv, "one MBConv block, fused (fp32, NHWC)");
  m.def("vector_width", &vector_width, "floats per vector register of this build");
}
