using BottleneckPipeline.Config;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using SixLabors.ImageSharp.Processing.Processors.Transforms;
using ResizeMode = BottleneckPipeline.Config.ResizeMode;

namespace BottleneckPipeline.Imaging;

/// <summary>
/// Turns decoded pixels into one image's slot of the model's input batch: resize to the square
/// input, then normalize each Rgb24 row straight into the batch buffer (no float image in between).
/// </summary>
public static class TensorWriter
{
    /// <summary>
    /// The triangle (bilinear) filter is what torchvision/PIL and TF's retrain.py resize with; ImageSharp
    /// widens it when shrinking, so downscaling is antialiased like PIL's. Bicubic costs more and
    /// sharpens, which these backbones were not trained on.
    /// </summary>
    public static readonly IResampler Resampler = KnownResamplers.Triangle;

    /// <summary>Resizes in place: stretch to size x size, or scale the shorter side to size and crop the centre.</summary>
    public static void Resize(Image<Rgb24> image, int size, ResizeMode mode)
    {
        if (image.Width == size && image.Height == size) return;
        image.Mutate(x => x.Resize(new ResizeOptions
        {
            Size = new Size(size, size),
            Mode = mode == ResizeMode.Stretch ? SixLabors.ImageSharp.Processing.ResizeMode.Stretch : SixLabors.ImageSharp.Processing.ResizeMode.Crop,
            Position = AnchorPositionMode.Center,
            Sampler = Resampler,
        }));
    }

    /// <summary>Writes a size x size image, normalized, into <paramref name="dest"/> (3 * size * size values).</summary>
    public static unsafe void Write(Image<Rgb24> image, Preprocessing p, TensorLayout layout, Span<float> dest)
    {
        var w = image.Width;
        var h = image.Height;
        if (dest.Length < 3 * w * h) throw new ArgumentException("destination smaller than the image tensor", nameof(dest));
        var mean = p.MeanImage;
        if (mean is not null && mean.Length != 3 * w * h) mean = null;
        fixed (float* d = dest)
        fixed (float* m = mean)
        {
            var rows = new RowWriter(p, layout, w, h, d, m);
            if (image.DangerousTryGetSinglePixelMemory(out var all))
            {
                var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(all.Span);
                for (var y = 0; y < h; y++) rows.Write(bytes.Slice(y * w * 3, w * 3), y);
            }
            else
            {
                image.ProcessPixelRows(acc =>
                {
                    for (var y = 0; y < h; y++) rows.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(acc.GetRowSpan(y)), y);
                });
            }
        }
    }

    /// <summary>Per-row normalization with the per-channel constants hoisted out of the pixel loop.</summary>
    private readonly unsafe struct RowWriter(Preprocessing p, TensorLayout layout, int w, int h, float* dest, float* mean)
    {
        private readonly int _s0 = p.SourceChannel[0], _s1 = p.SourceChannel[1], _s2 = p.SourceChannel[2];
        private readonly float _a0 = p.Scale[0], _a1 = p.Scale[1], _a2 = p.Scale[2];
        private readonly float _b0 = p.Offset[0], _b1 = p.Offset[1], _b2 = p.Offset[2];

        public void Write(ReadOnlySpan<byte> row, int y)
        {
            var plane = w * h;
            if (layout == TensorLayout.Nchw)
            {
                float* c0 = dest + y * w, c1 = c0 + plane, c2 = c1 + plane;
                for (int x = 0, i = 0; x < w; x++, i += 3)
                {
                    c0[x] = row[i + _s0] * _a0 + _b0;
                    c1[x] = row[i + _s1] * _a1 + _b1;
                    c2[x] = row[i + _s2] * _a2 + _b2;
                }
                if (mean is not null)
                {
                    float* m0 = mean + y * w, m1 = m0 + plane, m2 = m1 + plane;
                    for (var x = 0; x < w; x++) { c0[x] -= m0[x]; c1[x] -= m1[x]; c2[x] -= m2[x]; }
                }
            }
            else
            {
                var o = dest + y * w * 3;
                for (int x = 0, i = 0; x < w; x++, i += 3)
                {
                    o[i] = row[i + _s0] * _a0 + _b0;
                    o[i + 1] = row[i + _s1] * _a1 + _b1;
                    o[i + 2] = row[i + _s2] * _a2 + _b2;
                }
                if (mean is not null)
                {
                    for (int x = 0, i = 0, k = y * w; x < w; x++, i += 3, k++)
                    {
                        o[i] -= mean[k];
                        o[i + 1] -= mean[plane + k];
                        o[i + 2] -= mean[2 * plane + k];
                    }
                }
            }
        }
    }
}
