using System.Numerics.Tensors;

namespace BottleneckPipeline.Audit;

/// <summary>
/// Whether two photos are the same picture, up to a crop and a rescale: the verification of a near-duplicate candidate.
/// Pooled vectors cannot tell a re-encoded crop of a photo from another photo of the same kind of scene (both reach
/// cosines of 0.82-0.99); where the grey levels lie in the frame can. One photo's whole frame, as a 16 x 16 grey
/// picture, is compared (normalized cross-correlation: brightness and contrast do not count) with windows of the
/// other's 32 x 32 thumbnail: the whole frame, then 36 windows (95%, 90%, 85% and 80% of the side, each centred
/// and shifted to the 8 edges and corners), both ways round; the better way's best window, when it reaches 0.9, is
/// refined by a local search over its scale and position (steps halved three times). A crop of the other photo scores about
/// 0.99 or more; different photos of alike scenes stay clearly under <see cref="SamePicture"/> (bench: doctor).
/// </summary>
internal static class LayoutCheck
{
    public const int Side = 32, View = 16;

    /// <summary>Pairs scoring at least this are the same picture.</summary>
    public const double SamePicture = 0.97;

    /// <summary>A coarse window scoring at least this is refined.</summary>
    private const double RefineFrom = 0.90;

    private static readonly (double Scale, double X, double Y)[] Windows =
    [
        (1.0, 0, 0),
        .. from s in new[] { 0.95, 0.90, 0.85, 0.80 } from x in new[] { -1.0, 0, 1 } from y in new[] { -1.0, 0, 1 } select (s, x, y),
    ];

    /// <summary>Each coarse window's bilinear taps: for every view pixel, four (pixel, weight) pairs.</summary>
    private static readonly (int[] Pixels, float[] Weights)[] Taps = [.. Windows.Select(w => TapsOf(w.Scale, w.X, w.Y))];

    /// <summary>The similarity of two thumbnails (<see cref="Side"/> x <see cref="Side"/> grey levels, row by row), -1..1.</summary>
    public static double Score(byte[] a, byte[] b) => Score(a, Views(a), b, Views(b));

    /// <summary>The same, from each thumbnail's <see cref="Views"/> made beforehand (an image in many candidate pairs is sampled once).</summary>
    public static double Score(byte[] a, float[] viewsA, byte[] b, float[] viewsB)
    {
        // Both ways round on the coarse windows; only the better way is refined.
        var (ab, atB) = Coarse(viewsA.AsSpan(0, View * View), viewsB);
        var (ba, atA) = Coarse(viewsB.AsSpan(0, View * View), viewsA);
        return ab >= ba ? Refine(viewsA.AsSpan(0, View * View), b, ab, atB) : Refine(viewsB.AsSpan(0, View * View), a, ba, atA);
    }

    /// <summary>A thumbnail's view through every coarse window, one after another (the whole frame first).</summary>
    public static float[] Views(byte[] thumb)
    {
        var views = new float[Windows.Length * View * View];
        var view = new float[View * View];
        for (var k = 0; k < Windows.Length; k++)
        {
            Apply(Taps[k], thumb, view);
            view.CopyTo(views, k * View * View);
        }
        return views;
    }

    /// <summary>The best correlation of a whole frame with a coarse window of the other thumbnail, and that window.</summary>
    private static (double Best, (double Scale, double X, double Y) At) Coarse(ReadOnlySpan<float> frame, float[] otherViews)
    {
        var best = double.NegativeInfinity;
        var at = Windows[0];
        for (var k = 0; k < Windows.Length; k++)
        {
            var s = TensorPrimitives.Dot(frame, otherViews.AsSpan(k * View * View, View * View));
            if (s > best) (best, at) = (s, Windows[k]);
        }
        return (best, at);
    }

    /// <summary>A local search over the window's scale and position from the best coarse window, when that is close enough.</summary>
    private static double Refine(ReadOnlySpan<float> frame, byte[] other, double best, (double Scale, double X, double Y) at)
    {
        if (best < RefineFrom) return best;
        var (scale, x, y) = at;
        var (ds, dxy) = (0.025, 0.5);
        for (var round = 0; round < 3; round++, ds /= 2, dxy /= 2)
        {
            var improved = true;
            while (improved)
            {
                improved = false;
                foreach (var s2 in new[] { scale - ds, scale + ds, scale })
                    foreach (var x2 in new[] { x - dxy, x + dxy, x })
                        foreach (var y2 in new[] { y - dxy, y + dxy, y })
                        {
                            if (s2 > 1 || s2 < 0.7) continue;
                            var (cx, cy) = (Math.Clamp(x2, -1, 1), Math.Clamp(y2, -1, 1));
                            var v = TensorPrimitives.Dot(frame, Sample(other, s2, cx, cy));
                            if (v > best + 1e-7) (best, scale, x, y, improved) = (v, s2, cx, cy, true);
                        }
            }
        }
        return best;
    }

    /// <summary>
    /// A <see cref="View"/> x <see cref="View"/> bilinear sample of the window of the given scale (share of the side),
    /// placed at x, y in -1..1 (centred at 0, against an edge at -1 or 1), with its mean removed and scaled to unit length.
    /// </summary>
    internal static float[] Sample(byte[] thumb, double scale, double x, double y)
    {
        var v = new float[View * View];
        Apply(TapsOf(scale, x, y), thumb, v);
        return v;
    }

    /// <summary>A window's view of a thumbnail through its taps, mean removed and scaled to unit length.</summary>
    private static void Apply((int[] Pixels, float[] Weights) taps, byte[] thumb, float[] v)
    {
        var (pixels, weights) = taps;
        for (var o = 0; o < v.Length; o++)
        {
            var t = o * 4;
            v[o] = thumb[pixels[t]] * weights[t] + thumb[pixels[t + 1]] * weights[t + 1]
                 + thumb[pixels[t + 2]] * weights[t + 2] + thumb[pixels[t + 3]] * weights[t + 3];
        }
        var mean = TensorPrimitives.Sum<float>(v) / v.Length;
        TensorPrimitives.Subtract(v, mean, v);
        var norm = TensorPrimitives.Norm<float>(v);
        if (norm > 1e-6f) TensorPrimitives.Divide(v, norm, v);
    }

    /// <summary>The bilinear taps of a window: for each view pixel (row by row) its four thumbnail pixels and weights.</summary>
    private static (int[] Pixels, float[] Weights) TapsOf(double scale, double x, double y)
    {
        var pixels = new int[View * View * 4];
        var weights = new float[View * View * 4];
        var w = Side * scale;
        var x0 = (Side - w) / 2 * (1 + x);
        var y0 = (Side - w) / 2 * (1 + y);
        for (var r = 0; r < View; r++)
        {
            var sy = Math.Clamp(y0 + (r + 0.5) * w / View - 0.5, 0, Side - 1);
            var iy = Math.Min((int)sy, Side - 2);
            var fy = sy - iy;
            for (var c = 0; c < View; c++)
            {
                var sx = Math.Clamp(x0 + (c + 0.5) * w / View - 0.5, 0, Side - 1);
                var ix = Math.Min((int)sx, Side - 2);
                var fx = sx - ix;
                var t = (r * View + c) * 4;
                (pixels[t], weights[t]) = (iy * Side + ix, (float)((1 - fx) * (1 - fy)));
                (pixels[t + 1], weights[t + 1]) = (iy * Side + ix + 1, (float)(fx * (1 - fy)));
                (pixels[t + 2], weights[t + 2]) = ((iy + 1) * Side + ix, (float)((1 - fx) * fy));
                (pixels[t + 3], weights[t + 3]) = ((iy + 1) * Side + ix + 1, (float)(fx * fy));
            }
        }
        return (pixels, weights);
    }
}
