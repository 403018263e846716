using System.Collections.Concurrent;
using System.Security.Cryptography;
using BottleneckPipeline.Decoding;
using BottleneckPipeline.Imaging;
using BottleneckPipeline.Runtime;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using ResizeMode = BottleneckPipeline.Config.ResizeMode;

namespace BottleneckPipeline.Audit;

/// <summary>
/// The <see cref="LayoutCheck.Side"/> x <see cref="LayoutCheck.Side"/> grey thumbnails of images, by content id, kept in
/// one file beside the bottleneck cache (cache.dir/layout/thumbnails-32.bin): like the vectors they depend on the
/// bytes alone, so they are made once per image and never go stale. Only images in near-duplicate candidate pairs
/// are made (libvips' shrink-on-load: a fraction of a full decode). A file whose bytes no longer match its content id
/// gets none, and its pairs are not reported.
/// </summary>
internal static class Thumbnails
{
    private const int KeyBytes = 32, Bytes = LayoutCheck.Side * LayoutCheck.Side, Record = KeyBytes + Bytes;

    public static string PathIn(string cacheDir) => Path.Combine(cacheDir, "layout", $"thumbnails-{LayoutCheck.Side}.bin");

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
            using var image = Decode(bytes, maxPixels);
            var grey = new byte[Bytes];
            for (var y = 0; y < LayoutCheck.Side; y++)
                for (var x = 0; x < LayoutCheck.Side; x++)
                {
                    var p = image[x, y];
                    grey[y * LayoutCheck.Side + x] = (byte)Math.Clamp(Math.Round(0.299 * p.R + 0.587 * p.G + 0.114 * p.B), 0, 255);
                }
            return grey;
        }
        catch (Exception e) when (e is ImageRejectedException or UnknownImageFormatException or InvalidImageContentException or ConfigException
                                   or NetVips.VipsException)
        {
            return null;
        }
    }

    /// <summary>libvips' thumbnail (shrink-on-load), or ImageSharp's decode and resize where libvips is missing or refuses the file.</summary>
    private static Image<Rgb24> Decode(byte[] bytes, long maxPixels)
    {
        try
        {
            return LibvipsDecoder.Thumbnail(bytes, LayoutCheck.Side, ResizeMode.Stretch);
        }
        catch (Exception e) when (e is ConfigException or NetVips.VipsException or ImageRejectedException)
        {
            var image = ImageLoader.Decode(bytes, maxPixels);
            image.Mutate(x => x.Resize(LayoutCheck.Side, LayoutCheck.Side));
            return image;
        }
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
