/* digitrec: the operations of an int8 digit classifier, in plain C99.
 *
 * Included by the model header that `digitrec export MODEL --c-header` writes; that header
 * holds the weights and a digitrec_predict() that calls these kernels in the model's order.
 *
 * Activations between layers are uint8 with a scale and zero point (real = scale * (q - zp)),
 * weights int8 with one scale per output channel and zero point 0, biases int32 in the
 * scale of input times weight: the arithmetic of ONNX Runtime's quantised operators, so the
 * integer layers give the same numbers as the ONNX model. Layers that the quantiser kept in
 * float (pooling, batch norm, ReLU, the mean, softmax) run in float here too.
 *
 * Needs <math.h> (link with -lm). No heap; each kernel writes into a buffer the caller owns.
 */
#ifndef DIGITREC_KERNELS_H
#define DIGITREC_KERNELS_H

#include <math.h>
#include <stdint.h>

static inline uint8_t dr_saturate(float v) {
    return (uint8_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v);
}

/* Round half to even, as ONNX Runtime does; nearbyintf does so in the default rounding mode. */
static inline void dr_quantize(const float *x, int n, float scale, int zp, uint8_t *y) {
    for (int i = 0; i < n; i++) y[i] = dr_saturate(nearbyintf(x[i] / scale) + (float)zp);
}

static inline void dr_dequantize(const uint8_t *x, int n, float scale, int zp, float *y) {
    for (int i = 0; i < n; i++) y[i] = (float)((int)x[i] - zp) * scale;
}

/* Convolution without padding, channels first; a dense layer is the case k = h = w = 1.
 * The int32 sum is rescaled once per output channel by x_scale * w_scale / y_scale. */
static inline void dr_conv(const uint8_t *x, float x_scale, int x_zp, int cin, int h, int w,
                    const int8_t *weight, const float *w_scale, const int32_t *bias,
                    int cout, int k, int stride, float y_scale, int y_zp, uint8_t *y) {
    const int oh = (h - k) / stride + 1, ow = (w - k) / stride + 1;
    for (int o = 0; o < cout; o++) {
        const float multiplier = x_scale * w_scale[o] / y_scale;
        const int8_t *wo = weight + o * cin * k * k;
        for (int oy = 0; oy < oh; oy++) {
            for (int ox = 0; ox < ow; ox++) {
                int32_t acc = bias ? bias[o] : 0;
                for (int c = 0; c < cin; c++) {
                    const uint8_t *xc = x + (c * h + oy * stride) * w + ox * stride;
                    const int8_t *wc = wo + c * k * k;
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++)
                            acc += ((int32_t)xc[ky * w + kx] - x_zp) * wc[ky * k + kx];
                }
                y[(o * oh + oy) * ow + ox] =
                    dr_saturate(nearbyintf((float)acc * multiplier) + (float)y_zp);
            }
        }
    }
}

static inline void dr_relu(const float *x, int n, float *y) {
    for (int i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static inline void dr_maxpool(const float *x, int c, int h, int w, int k, int stride, float *y) {
    const int oh = (h - k) / stride + 1, ow = (w - k) / stride + 1;
    for (int ch = 0; ch < c; ch++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                const float *xp = x + (ch * h + oy * stride) * w + ox * stride;
                float best = xp[0];
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++)
                        if (xp[ky * w + kx] > best) best = xp[ky * w + kx];
                y[(ch * oh + oy) * ow + ox] = best;
            }
}

/* Batch norm at inference: one scale and shift per channel, folded from its statistics. */
static inline void dr_affine(const float *x, int c, int hw, const float *scale, const float *shift,
                      float *y) {
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < hw; i++) y[ch * hw + i] = x[ch * hw + i] * scale[ch] + shift[ch];
}

static inline void dr_mean(const float *x, int c, int hw, float *y) {
    for (int ch = 0; ch < c; ch++) {
        float sum = 0.0f;
        for (int i = 0; i < hw; i++) sum += x[ch * hw + i];
        y[ch] = sum / (float)hw;
    }
}

static inline void dr_softmax(const float *x, int n, float *y) {
    float top = x[0], sum = 0.0f;
    for (int i = 1; i < n; i++) if (x[i] > top) top = x[i];
    for (int i = 0; i < n; i++) sum += y[i] = expf(x[i] - top);
    for (int i = 0; i < n; i++) y[i] /= sum;
}

#endif
