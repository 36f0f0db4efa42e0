#pragma once
// LLM.int8 (bitsandbytes' Linear8bitLt, transformers' load_in_8bit): weights stored row-wise as
// int8 codes CB [out, in] with one f32 absmax per output row SCB [out]; w ~ CB * SCB / 127.
// At matmul time the activation's outlier columns (|x| >= threshold, 6.0 by default) are computed
// in 16-bit against the dequantized weight columns; the rest as int8 x int8 with row-wise
// ("vector-wise") quantized activations, and the int32 result scaled back by SCA * SCB / 127^2.
//
// Quantization follows bitsandbytes' kInt8VectorQuant: the input is rounded to f16 first (bitsandbytes
// casts to f16), scale = __fdividef(127, absmax), code = round-half-even(x * scale).
#include <cstdint>
#include <string>
#include <vector>

namespace quantlab::bnb {

constexpr float kDefaultInt8Threshold = 6.0f;

struct Int8Rows {
  int64_t rows = 0, cols = 0;
  std::vector<int8_t> codes;   // rows * cols (CB / CA)
  std::vector<float> absmax;   // rows (SCB / SCA), as the f16 max |x| of the row
};

// Row-wise int8 quantization of a [rows, cols] matrix (int8_vectorwise_quant with threshold 0).
// Throws quantlab::Error on non-finite values or values outside f16's range.
Int8Rows quantize_int8_rows(const float* x, int64_t rows, int64_t cols, const std::string& source = "");

// Activation quantization with outlier decomposition (int8_vectorwise_quant with threshold > 0):
// values with |x| >= threshold are left out of each row's absmax, and every column holding one
// (outlier_cols, ascending) is zeroed in the codes for all rows.
struct Int8Activations {
  Int8Rows q;
  std::vector<int64_t> outlier_cols;
};
Int8Activations quantize_int8_activations(const float* x, int64_t rows, int64_t cols, float threshold);

// w[r][c] = (float(CB) * SCB[r]) * (1/127 as float32), as int8_vectorwise_dequant computes it.
std::vector<float> dequantize_int8_rows(const Int8Rows& w);

// Reference LLM.int8 linear layer: y[t][o] = sum_c x[t][c] * w[o][c] + bias[o] for x [tokens, in]
// and the quantized weight w [out, in], with bitsandbytes' mixed-precision semantics (threshold <= 0
// disables the 16-bit outlier path). The int8 part is computed exactly as bitsandbytes' kernels do
// (exact int32 accumulation, then fma(acc * SCA * SCB, 1/127^2, bias)); the outlier part multiplies
// the f16 activations with the f16-rounded dequantized weight columns and accumulates in f32. The
// result is f32 (bitsandbytes rounds it to f16 between the two parts). bias (out values, may be
// null) is used rounded to f16, as Linear8bitLt casts it to the f16 input's dtype.
std::vector<float> int8_linear(const float* x, int64_t tokens, const Int8Rows& w, const float* bias,
                               float threshold = kDefaultInt8Threshold);

}  // namespace quantlab::bnb
