using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace BottleneckPipeline.Imaging;

/// <summary>An image that cannot become pixels; the reason is shown to the user and stored in quarantine.</summary>
public sealed class ImageRejectedException(string reason, Exception? inner = null) : Exception(reason, inner);

/// <summary>
/// Decodes encoded image bytes (the formats of <see cref="ImageFormats"/>) to upright Rgb24
/// pixels: first frame only (animated GIF/WebP, multi-page TIFF), EXIF orientation applied, any
/// pixel format (CMYK, gray, 16-bit, palette, alpha) converted by ImageSharp. The pixel count is
/// checked from the header before any pixel memory is allocated.
/// </summary>
public static class ImageLoader
{
    public static Image<Rgb24> Decode(byte[] bytes, long maxPixels) => Guard(() =>
    {
        Check(bytes, maxPixels);
        return Load(bytes);
    });

    /// <summary>What the header says, once it passed the checks every decoder relies on: a known
    /// format, a JPEG with its end-of-image marker, at most <paramref name="maxPixels"/> pixels.</summary>
    public readonly record struct Header(bool IsJpeg, int Width, int Height)
    {
        public long Pixels => (long)Width * Height;
    }

    public static Header Check(byte[] bytes, long maxPixels)
    {
        var info = Image.Identify(ImageFormats.Configuration, bytes, out var format)
            ?? throw new ImageRejectedException("not a recognised image format");
        var isJpeg = format is SixLabors.ImageSharp.Formats.Jpeg.JpegFormat;
        if (isJpeg && IsTruncatedJpeg(bytes))
            throw new ImageRejectedException("truncated JPEG: the image data ends before its end-of-image marker");
        if ((long)info.Width * info.Height > maxPixels)
            throw new ImageRejectedException($"too many pixels ({info.Width}x{info.Height} > dataset.max_pixels {maxPixels})");
        return new Header(isJpeg, info.Width, info.Height);
    }

    /// <summary>The whole image with ImageSharp, first frame, upright.</summary>
    public static Image<Rgb24> Load(byte[] bytes)
    {
        var image = Image.Load<Rgb24>(ImageFormats.Configuration, bytes);
        // WebP's 2.x decoder has no first-frame mode: drop the other frames before any processing.
        while (image.Frames.Count > 1) image.Frames.RemoveFrame(image.Frames.Count - 1);
        image.Mutate(x => x.AutoOrient());
        return image;
    }

    /// <summary>Runs a decode, turning whatever a decoder throws into a rejection of this one image.</summary>
    public static T Guard<T>(Func<T> decode)
    {
        try
        {
            return decode();
        }
        catch (ImageRejectedException) { throw; }
        catch (Runtime.PipelineException) { throw; }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The bytes are already in memory, so nothing here is a read error: whatever a decoder
            // throws on damaged input (its own exception types, but also DivideByZero, NullReference,
            // IOException from its inner streams...) means "cannot decode" this one image.
            throw new ImageRejectedException($"cannot decode: {e.Message} ({e.GetType().Name})", e);
        }
    }

    /// <summary>
    /// ImageSharp decodes a JPEG cut off inside its scan data without complaint (the rest turns grey),
    /// which would train on half an image. Entropy-coded data never contains FF D9, so a complete file
    /// has an end-of-image marker after its last start-of-scan marker (FF DA).
    /// </summary>
    public static bool IsTruncatedJpeg(ReadOnlySpan<byte> bytes)
    {
        ReadOnlySpan<byte> eoi = [0xFF, 0xD9];
        ReadOnlySpan<byte> sos = [0xFF, 0xDA];
        return bytes.LastIndexOf(eoi) < bytes.LastIndexOf(sos);
    }
}
