/* Reads 28x28 uint8 images (raw, one after another) from stdin and prints one line per image:
 * the digit, the ten probabilities, and the nanoseconds digitrec_predict() took.
 * Build: gcc -std=c99 -O2 -DMODEL_HEADER='"model-int8.h"' predict_raw.c -lm
 * digitrec's tests and bench/export.py use it to check the C against ONNX Runtime. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>

#include MODEL_HEADER

int main(void) {
    uint8_t image[784];
    float probabilities[10];
    struct timespec start, end;
    while (fread(image, 1, sizeof image, stdin) == sizeof image) {
        clock_gettime(CLOCK_MONOTONIC, &start);
        int digit = digitrec_predict(image, probabilities);
        clock_gettime(CLOCK_MONOTONIC, &end);
        printf("%d", digit);
        for (int i = 0; i < 10; i++) printf(" %.9g", probabilities[i]);
        printf(" %ld\n", (end.tv_sec - start.tv_sec) * 1000000000L + end.tv_nsec - start.tv_nsec);
    }
    return 0;
}
