// Cholesky factor and triangular inverse in a fixed order of operations (linalg.hpp defines each
// element). Both are left-looking: an element is one dot product of two rows already final, so the
// result cannot depend on blocking. The blocked form only shares loads: a tile of 4 x 4 elements
// sums its dot products together over the stretch of k that all of them cover (8 lanes, aligned to
// multiples of 8, so lane l holds the terms k ≡ l mod 8 exactly as the per-element definition), and
// each element adds its own head and tail terms one by one, in increasing k, into the same lanes.
// Every multiply-add is an explicit std::fma; no `a*b + c` is left for the compiler to contract.
#include "quantlab/backend/linalg.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace quantlab {
namespace {

constexpr int kLanes = kLinalgDotLanes;
constexpr int kTile = 4;

struct Lanes {
  double l[kLanes] = {};
};

// Terms k in [k0, k1) of a·b, each into lane k mod 8, in increasing k.
inline void add_terms(Lanes& s, const double* a, const double* b, int64_t k0, int64_t k1) {
  for (int64_t k = k0; k < k1; ++k) s.l[k % kLanes] = std::fma(a[k], b[k], s.l[k % kLanes]);
}

inline double total(const Lanes& s) {
  const double* l = s.l;
  return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

inline int64_t round_down8(int64_t k) { return k / kLanes * kLanes; }
inline int64_t round_up8(int64_t k) { return (k + kLanes - 1) / kLanes * kLanes; }

// acc[a][b] += terms k in [k0, k1) (multiples of 8) of row ra+a · row rb+b of the n x n array.
// Eight lanes of fused multiply-adds, one register where the target has one; every version
// computes fma(x[l], y[l], s[l]) per lane, exactly rounded, so the choice changes no bit.
#if defined(__AVX512F__)
struct Lanes8 {
  __m512d v;
  static Lanes8 load(const double* p) { return {_mm512_loadu_pd(p)}; }
  void store(double* p) const { _mm512_storeu_pd(p, v); }
  void fma(const Lanes8& x, const Lanes8& y) { v = _mm512_fmadd_pd(x.v, y.v, v); }
};
#elif defined(__AVX__) && defined(__FMA__)
struct Lanes8 {
  __m256d lo, hi;
  static Lanes8 load(const double* p) { return {_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4)}; }
  void store(double* p) const { _mm256_storeu_pd(p, lo), _mm256_storeu_pd(p + 4, hi); }
  void fma(const Lanes8& x, const Lanes8& y) { lo = _mm256_fmadd_pd(x.lo, y.lo, lo), hi = _mm256_fmadd_pd(x.hi, y.hi, hi); }
};
#else
struct Lanes8 {
  double v[kLanes];
  static Lanes8 load(const double* p) {
    Lanes8 r;
    for (int l = 0; l < kLanes; ++l) r.v[l] = p[l];
    return r;
  }
  void store(double* p) const {
    for (int l = 0; l < kLanes; ++l) p[l] = v[l];
  }
  void fma(const Lanes8& x, const Lanes8& y) {
    for (int l = 0; l < kLanes; ++l) v[l] = std::fma(x.v[l], y.v[l], v[l]);
  }
};
#endif

// acc[a][b] += terms k in [k0, k1) (multiples of 8) of row ra+a · row rb+b of the n x n array.
void tile_terms(Lanes (&acc)[kTile][kTile], const double* m, int64_t n, int64_t ra, int64_t rb, int64_t k0, int64_t k1) {
  Lanes8 s[kTile][kTile];
  for (int a = 0; a < kTile; ++a)
    for (int b = 0; b < kTile; ++b) s[a][b] = Lanes8::load(acc[a][b].l);
  for (int64_t k = k0; k < k1; k += kLanes) {
    Lanes8 y[kTile];
    for (int b = 0; b < kTile; ++b) y[b] = Lanes8::load(m + (rb + b) * n + k);
    for (int a = 0; a < kTile; ++a) {
      const Lanes8 x = Lanes8::load(m + (ra + a) * n + k);
      for (int b = 0; b < kTile; ++b) s[a][b].fma(x, y[b]);
    }
  }
  for (int a = 0; a < kTile; ++a)
    for (int b = 0; b < kTile; ++b) s[a][b].store(acc[a][b].l);
}

}  // namespace

bool cholesky_lower(double* m, int64_t n) {
  auto row = [&](int64_t i) { return m + i * n; };
  // L[i][j] for j < i, once dot(L[i], L[j], 0, j) is in `s`.
  auto off_diagonal = [&](int64_t i, int64_t j, const Lanes& s) { row(i)[j] = (row(i)[j] - total(s)) / row(j)[j]; };
  for (int64_t i0 = 0; i0 < n; i0 += kTile) {
    const bool full = i0 + kTile <= n;
    for (int64_t j0 = 0; j0 < i0; j0 += kTile) {  // i0 is a multiple of 4: these tiles are whole
      if (!full) break;
      Lanes acc[kTile][kTile];
      const int64_t k1 = round_down8(j0);
      tile_terms(acc, m, n, i0, j0, 0, k1);
      for (int b = 0; b < kTile; ++b)  // tails reach into this tile's earlier columns
        for (int a = 0; a < kTile; ++a) {
          add_terms(acc[a][b], row(i0 + a), row(j0 + b), k1, j0 + b);
          off_diagonal(i0 + a, j0 + b, acc[a][b]);
        }
    }
    for (int64_t i = i0; i < std::min(n, i0 + kTile); ++i) {
      for (int64_t j = full ? i0 : 0; j < i; ++j) {
        Lanes s;
        add_terms(s, row(i), row(j), 0, j);
        off_diagonal(i, j, s);
      }
      Lanes s;
      add_terms(s, row(i), row(i), 0, i);
      const double d = row(i)[i] - total(s);
      if (!(d > 0)) return false;
      row(i)[i] = std::sqrt(d);
    }
  }
  return true;
}

void invert_lower_transposed(double* m, int64_t n) {
  auto row = [&](int64_t i) { return m + i * n; };
  std::vector<double> ldiag(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ldiag[size_t(i)] = row(i)[i];
  for (int64_t c = 0; c < n; ++c) row(c)[c] = 1.0 / ldiag[size_t(c)];
  // X[i][c] (stored at row c, column i) once dot(L[i], Xᵀ[c], c, i) is in `s`.
  auto element = [&](int64_t i, int64_t c, const Lanes& s) { row(c)[i] = -total(s) / ldiag[size_t(i)]; };
  for (int64_t c0 = 0; c0 < n; c0 += kTile) {
    const int64_t c1 = std::min(n, c0 + kTile);  // only the last column block can be narrower
    auto one_by_one = [&](int64_t i) {
      for (int64_t c = c0; c < std::min(i, c1); ++c) {
        Lanes s;
        add_terms(s, row(i), row(c), c, i);
        element(i, c, s);
      }
    };
    for (int64_t i = c0 + 1; i < c1; ++i) one_by_one(i);  // the diagonal block
    const int64_t k0 = round_up8(c1 - 1);  // from here on, every column of the block has begun
    for (int64_t i0 = c1; i0 < n; i0 += kTile) {
      if (i0 + kTile > n) {
        for (int64_t i = i0; i < n; ++i) one_by_one(i);
        break;
      }
      // Terms below k1 involve rows of X that are final; with k1 > k0 the tile shares them.
      const int64_t k1 = round_down8(i0);
      const bool shared = k1 > k0;
      Lanes acc[kTile][kTile];
      if (shared) {
        for (int a = 0; a < kTile; ++a)
          for (int b = 0; b < kTile; ++b) add_terms(acc[a][b], row(i0 + a), row(c0 + b), c0 + b, k0);
        tile_terms(acc, m, n, i0, c0, k0, k1);
      }
      for (int a = 0; a < kTile; ++a)  // the rest reaches into this tile's earlier rows
        for (int b = 0; b < kTile; ++b) {
          add_terms(acc[a][b], row(i0 + a), row(c0 + b), shared ? k1 : c0 + b, i0 + a);
          element(i0 + a, c0 + b, acc[a][b]);
        }
    }
  }
}

}  // namespace quantlab
