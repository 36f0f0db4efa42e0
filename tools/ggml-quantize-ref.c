// Reference encoder/decoder for tools/make-format-fixtures.py: runs llama.cpp's own
// ggml_quantize_chunk (the function llama-quantize calls) and ggml's to_float on raw files.
// Built by make-format-fixtures.py against an existing llama.cpp build (ggml-base static library):
//   cc -O2 -no-pie -I $LLAMA_CPP_SRC/ggml/include tools/ggml-quantize-ref.c
//      $LLAMA_CPP_BUILD/ggml/src/libggml-base.a -lstdc++ -lm -lpthread -fopenmp -o ggml-quantize-ref
// Usage:
//   ggml-quantize-ref quantize TYPE_ID N_PER_ROW NROWS IN.f32 IMATRIX.f32|- OUT.bin
//   ggml-quantize-ref quantize_ref TYPE_ID N IN.f32 OUT.bin     (ggml's from_float_ref: Q8_1, Q8_K)
//   ggml-quantize-ref dequantize TYPE_ID N IN.bin OUT.f32
//   ggml-quantize-ref traits TYPE_ID                          (prints: block_size bytes_per_block)
#include "ggml.h"

// Q8_K has no entries in ggml-base's type traits; its reference encoder and decoder are declared
// in the internal header ggml-quants.h.
void quantize_row_q8_K_ref(const float* x, void* y, int64_t k);
void dequantize_row_q8_K(const void* x, float* y, int64_t k);

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void* read_all(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  if (!f) { perror(path); exit(1); }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  void* buf = malloc((size_t)n + 1);
  if (fread(buf, 1, (size_t)n, f) != (size_t)n) { perror(path); exit(1); }
  fclose(f);
  *size = (size_t)n;
  return buf;
}

static void write_all(const char* path, const void* data, size_t size) {
  FILE* f = fopen(path, "wb");
  if (!f || fwrite(data, 1, size, f) != size) { perror(path); exit(1); }
  fclose(f);
}

int main(int argc, char** argv) {
  if (argc == 8 && strcmp(argv[1], "quantize") == 0) {
    const enum ggml_type type = (enum ggml_type)atoi(argv[2]);
    const int64_t n_per_row = atoll(argv[3]), nrows = atoll(argv[4]);
    size_t in_size, imatrix_size = 0;
    const float* src = read_all(argv[5], &in_size);
    const float* imatrix = strcmp(argv[6], "-") == 0 ? NULL : read_all(argv[6], &imatrix_size);
    if (in_size != (size_t)(n_per_row * nrows) * 4 || (imatrix && imatrix_size != (size_t)n_per_row * 4)) {
      fprintf(stderr, "size mismatch\n");
      return 1;
    }
    const size_t out_size = ggml_row_size(type, n_per_row) * (size_t)nrows;
    void* dst = calloc(1, out_size);
    const size_t written = ggml_quantize_chunk(type, src, dst, 0, nrows, n_per_row, imatrix);
    if (written != out_size) { fprintf(stderr, "wrote %zu of %zu bytes\n", written, out_size); return 1; }
    write_all(argv[7], dst, out_size);
    return 0;
  }
  if (argc == 6 && strcmp(argv[1], "quantize_ref") == 0) {
    const enum ggml_type type = (enum ggml_type)atoi(argv[2]);
    const int64_t n = atoll(argv[3]);
    size_t in_size;
    const float* src = read_all(argv[4], &in_size);
    if (in_size != (size_t)n * 4) { fprintf(stderr, "size mismatch\n"); return 1; }
    const size_t out_size = ggml_row_size(type, n);
    void* dst = calloc(1, out_size);
    if (type == GGML_TYPE_Q8_K) quantize_row_q8_K_ref(src, dst, n);
    else ggml_get_type_traits(type)->from_float_ref(src, dst, n);
    write_all(argv[5], dst, out_size);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "traits") == 0) {
    const enum ggml_type type = (enum ggml_type)atoi(argv[2]);
    printf("%lld %zu\n", (long long)ggml_blck_size(type), ggml_type_size(type));
    return 0;
  }
  if (argc == 6 && strcmp(argv[1], "dequantize") == 0) {
    const enum ggml_type type = (enum ggml_type)atoi(argv[2]);
    const int64_t n = atoll(argv[3]);
    size_t in_size;
    const void* src = read_all(argv[4], &in_size);
    if (in_size != ggml_row_size(type, n)) { fprintf(stderr, "size mismatch\n"); return 1; }
    float* dst = malloc((size_t)n * 4);
    if (type == GGML_TYPE_Q8_K) dequantize_row_q8_K(src, dst, n);
    else ggml_get_type_traits(type)->to_float(src, dst, n);
    write_all(argv[5], dst, (size_t)n * 4);
    return 0;
  }
  fprintf(stderr, "usage: see the comment at the top of ggml-quantize-ref.c\n");
  return 2;
}
