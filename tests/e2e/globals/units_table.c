/* SPDX-License-Identifier: MIT */
/* A table another file reads, filled by main at start. */
double lut[256];

void fill_lut(double base)
{
	for (int i = 0; i < 256; i++)
		lut[i] = base + i * 0.5;
}
