using System.Buffers;
using System.Security.Cryptography;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;

namespace BottleneckPipeline.Imaging;

/// <summary>What a file's header says: its format (from magic bytes) and size, and the SHA-256 of its bytes.</summary>
public readonly record struct ProbedImage(string Format, int Width, int Height, string ContentId);

/// <summary>The outcome of probing one file: an image, or a refusal with a reason. NotAnImage marks
/// refusals where the content is no image at all (empty, or no known format), as opposed to a bad one.</summary>
public readonly record struct ProbeOutcome(ProbedImage? Image, string? RejectReason, bool NotAnImage)
{
    public static ProbeOutcome Accepted(ProbedImage image) => new(image, null, false);
    public static ProbeOutcome Rejected(string reason, bool notAnImage = false) => new(null, reason, notAnImage);
}

/// <summary>
/// Reads an image file's header (never its pixels) to learn format and dimensions, refuses what a
/// later decode must not attempt (empty, unreadable, not an image, too many pixels), and hashes the
/// bytes of what it accepts. Identify parses headers only, so a header claiming 100000x100000 costs
/// nothing to refuse.
/// </summary>
public static class ImageProbe
{
    public static ProbeOutcome Probe(string path, long size, long maxPixels)
    {
        // Zero bytes also covers FIFOs, sockets and devices, which report size 0: they are never opened,
        // so a FIFO cannot block the scan.
        if (size == 0) return ProbeOutcome.Rejected("empty: 0 bytes (or not a regular file)", notAnImage: true);
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
            if (!stream.CanSeek) return ProbeOutcome.Rejected("not a regular file");
            if (size > WholeReadLimit) return ProbeStream(stream, maxPixels);
            // Small files (nearly all photos) are read once into a pooled buffer: one read serves both
            // the header parse and the hash.
            var buffer = ArrayPool<byte>.Shared.Rent((int)size + 1);
            try
            {
                var n = ReadFully(stream, buffer);
                if (n > size) { stream.Position = 0; return ProbeStream(stream, maxPixels); } // it grew meanwhile
                using var memory = new MemoryStream(buffer, 0, n, writable: false);
                return ProbeStream(memory, maxPixels, buffer, n);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        catch (UnauthorizedAccessException e)
        {
            return ProbeOutcome.Rejected($"unreadable: permission denied ({e.Message})");
        }
        catch (IOException e)
        {
            return ProbeOutcome.Rejected($"unreadable: {e.Message}");
        }
    }

    private const long WholeReadLimit = 16 << 20;

    /// <param name="wholeFile">The file's bytes when <paramref name="stream"/> is a view of them, else null.</param>
    private static ProbeOutcome ProbeStream(Stream stream, long maxPixels, byte[]? wholeFile = null, int length = 0)
    {
        IImageInfo? info;
        IImageFormat? format;
        try
        {
            info = Image.Identify(ImageFormats.Configuration, stream, out format);
        }
        catch (Exception e) when (e is not OutOfMemoryException && (e is not IOException || e is EndOfStreamException))
        {
            // (Other IOExceptions are read failures: the caller reports those as unreadable.)
            // Header parsers throw many kinds of exception on hostile input (the BMP one throws
            // InvalidOperationException for oversized dimensions); each is a bad file, never a failed run.
            return ProbeOutcome.Rejected($"corrupt image header: {e.Message}");
        }
        if (info is null || format is null)
            return ProbeOutcome.Rejected($"not an image: content is not {ImageFormats.Accepted}", notAnImage: true);
        var name = ImageFormats.Name(format);
        if (info.Width <= 0 || info.Height <= 0)
            return ProbeOutcome.Rejected($"corrupt {name} header: {info.Width}x{info.Height} pixels");
        var pixels = (long)info.Width * info.Height;
        if (pixels > maxPixels)
            return ProbeOutcome.Rejected($"too large: {info.Width}x{info.Height} = {pixels:N0} pixels is over dataset.max_pixels ({maxPixels:N0})");

        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        if (wholeFile is not null) SHA256.HashData(wholeFile.AsSpan(0, length), hash);
        else
        {
            stream.Position = 0;
            SHA256.HashData(stream, hash);
        }
        return ProbeOutcome.Accepted(new ProbedImage(name, info.Width, info.Height, Convert.ToHexStringLower(hash)));
    }

    private static int ReadFully(Stream stream, byte[] buffer)
    {
        var total = 0;
        int n;
        while (total < buffer.Length && (n = stream.Read(buffer, total, buffer.Length - total)) > 0) total += n;
        return total;
    }
}
