using System.Collections.Concurrent;
using System.Security.Cryptography;
using BottleneckPipeline.Decoding;
using BottleneckPipeline.Imaging;
using BottleneckPipeline.Runtime;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace BottleneckPipeline.Audit;

/// <summary>
/// The <see cref="LayoutCheck.Side"/> x <see cref="LayoutCheck.Side"/> grey thumbnails of images, by content id, kept in
/// one file beside the bottleneck cache (cache.dir/layout/thumbnails-32-area.bin): like the vectors they depend on the
/// bytes alone, so they are made once per image and never go stale. Only images in near-duplicate candidate pairs
/// are made (a JPEG by libvips' shrink-on-load, a fraction of a full decode). A file whose bytes no longer match its content id
/// gets none, and its pairs are not reported.
/// </summary>
internal static class Thumbnails
{
    private const int KeyBytes = 32, Bytes = LayoutCheck.Side * LayoutCheck.Side, Record = KeyBytes + Bytes;

    public static string PathIn(string cacheDir) => Path.Combine(cacheDir, "layout", $"thumbnails-{LayoutCheck.Side}-area.bin");

    /// <summary>The thumbnails of the given images: read from the file, the missing ones made and the file rewritten.</summary>
    /// <param name="images">content id (hex SHA-256) and absolute path.</param>
    /// <returns>the thumbnails by content id, and how many were made now.</returns>
    public static (IReadOnlyDictionary<string, byte[]> Thumbnails, int Made) For(string cacheDir, IReadOnlyCollection<(string ContentId, string Path)> images,
        long maxPixels, int maxParallel, CancellationToken ct = default)
    {
        var file = PathIn(cacheDir);
        var stored = Read(file);
        var found = new ConcurrentDictionary<string, byte[]>(StringComparer.Ordinal);
        var missing = new List<(string ContentId, string Path)>();
        foreach (var (id, path) in images)
            if (stored.TryGetValue(id, out var t)) found[id] = t;
            else missing.Add((id, path));
        var made = new ConcurrentDictionary<string, byte[]>(StringComparer.Ordinal);
        Parallel.ForEach(missing, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, maxParallel), CancellationToken = ct }, image =>
        {
            if (Make(image.Path, image.ContentId, maxPixels) is { } t) made[image.ContentId] = found[image.ContentId] = t;
        });
        if (!made.IsEmpty)
        {
            foreach (var (id, t) in made) stored[id] = t;
            Write(file, stored);
        }
        return (found, made.Count);
    }

    /// <summary>An image file's thumbnail, or null when it cannot be read or no longer holds the content id's bytes.</summary>
    internal static byte[]? Make(string path, string contentId, long maxPixels)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        if (!string.Equals(Convert.ToHexStringLower(SHA256.HashData(bytes)), contentId, StringComparison.Ordinal)) return null;
        try
        {
            return Decode(bytes, maxPixels);
        }
        catch (Exception e) when (e is ImageRejectedException or UnknownImageFormatException or InvalidImageContentException or ConfigException
                                   or NetVips.VipsException)
        {
            return null;
        }
    }

    /// <summary>
    /// The whole frame at <see cref="LayoutCheck.Side"/> x <see cref="LayoutCheck.Side"/>: a JPEG decoded by libvips at the
    /// smallest size its DCT scaling offers (1/8, 1/4 or 1/2) that keeps both sides at least that long, anything else (or a
    /// JPEG libvips refuses) by ImageSharp in full; then each thumbnail pixel is the mean grey level of the frame area it covers.
    /// </summary>
    private static byte[] Decode(byte[] bytes, long maxPixels)
    {
        var header = ImageLoader.Guard(() => ImageLoader.Check(bytes, maxPixels));
        Image<Rgb24>? image = null;
        if (header.IsJpeg)
        {
            try { image = LibvipsDecoder.ShrinkOnLoad(bytes, ShrinkFor(header.Width, header.Height)); }
            catch (Exception e) when (e is ConfigException or NetVips.VipsException) { } // ImageSharp below
        }
        image ??= ImageLoader.Guard(() => ImageLoader.Load(bytes));
        using (image) return AreaGrey(image, LayoutCheck.Side);
    }

    /// <summary>The largest of 8, 4 and 2 that leaves both sides at least <see cref="LayoutCheck.Side"/> pixels long, else 1.</summary>
    internal static int ShrinkFor(int width, int height)
    {
        var shorter = Math.Min(width, height);
        foreach (var shrink in new[] { 8, 4, 2 })
            if (shorter / shrink >= LayoutCheck.Side) return shrink;
        return 1;
    }

    /// <summary>A side x side grey picture of the image: each pixel the mean luma (BT.601) of the area it covers.</summary>
    internal static byte[] AreaGrey(Image<Rgb24> image, int side)
    {
        var (w, h) = (image.Width, image.Height);
        var (xs, ys) = (Coverage(w, side), Coverage(h, side));
        var rows = new double[h * side]; // each source row reduced to side columns, read in place (a full-size PNG is not copied)
        image.ProcessPixelRows(pixels =>
        {
            for (var y = 0; y < h; y++)
            {
                var row = pixels.GetRowSpan(y);
                foreach (var (source, target, weight) in xs)
                {
                    var p = row[source];
                    rows[y * side + target] += weight * (0.299 * p.R + 0.587 * p.G + 0.114 * p.B);
                }
            }
        });
        var grey = new double[side * side];
        foreach (var (source, target, weight) in ys)
            for (var x = 0; x < side; x++) grey[target * side + x] += weight * rows[source * side + x];
        return [.. grey.Select(g => (byte)Math.Clamp(Math.Round(g), 0, 255))];
    }

    /// <summary>How much each source pixel of a line n long covers of each of the side target pixels, as a share of the
    /// target pixel (each target's weights sum to 1).</summary>
    private static List<(int Source, int Target, double Weight)> Coverage(int n, int side)
    {
        var taps = new List<(int, int, double)>();
        var span = (double)n / side;
        for (var t = 0; t < side; t++)
        {
            var (from, to) = (t * span, (t + 1) * span);
            for (var s = (int)Math.Floor(from); s < Math.Min(n, (int)Math.Ceiling(to)); s++)
            {
                var overlap = Math.Min(to, s + 1) - Math.Max(from, s);
                if (overlap > 0) taps.Add((s, t, overlap / span));
            }
        }
        return taps;
    }

    private static Dictionary<string, byte[]> Read(string file)
    {
        var stored = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        if (!File.Exists(file)) return stored;
        byte[] data;
        try { data = File.ReadAllBytes(file); }
        catch (IOException) { return stored; } // made again
        for (var at = 0; at + Record <= data.Length; at += Record)
            stored[Convert.ToHexStringLower(data.AsSpan(at, KeyBytes))] = data.AsSpan(at + KeyBytes, Bytes).ToArray();
        return stored;
    }

    private static void Write(string file, Dictionary<string, byte[]> stored)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        AtomicFile.Write(file, stream =>
        {
            foreach (var (id, t) in stored.OrderBy(e => e.Key, StringComparer.Ordinal))
            {
                stream.Write(Convert.FromHexString(id));
                stream.Write(t);
            }
        });
    }
}
