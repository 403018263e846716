using BottleneckPipeline.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace BottleneckPipeline.Evaluate.Html;

/// <summary>
/// A small JPEG of a photo, embedded in a page as a data: URI. Bounded in bytes, not just in pixels,
/// so a page of a thousand thumbnails stays a few megabytes whatever the photos hold.
/// </summary>
internal sealed record Thumbnail(byte[] Jpeg, int Width, int Height)
{
    /// <summary>Longest side in pixels.</summary>
    public const int MaxSide = 128;

    /// <summary>At most this many JPEG bytes (4 kB as base64): with its caption, under 5 kB per image in a page.</summary>
    public const int MaxBytes = 3000;

    private static readonly int[] Qualities = [80, 70, 60, 50, 40, 30];

    public string DataUri => "data:image/jpeg;base64," + Convert.ToBase64String(Jpeg);

    /// <summary>The thumbnail of an image file, upright (EXIF orientation applied), or why there is none.</summary>
    public static (Thumbnail? Thumbnail, string? Error) FromFile(string path, long maxPixels)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, e is FileNotFoundException or DirectoryNotFoundException ? "file not found" : $"cannot read: {e.Message}");
        }
        try
        {
            using var image = ImageLoader.Decode(bytes, maxPixels);
            return (Of(image), null);
        }
        catch (ImageRejectedException e)
        {
            return (null, e.Message);
        }
    }

    /// <summary>
    /// Shrinks the image to <see cref="MaxSide"/> and lowers the JPEG quality until it fits
    /// <see cref="MaxBytes"/>; a photo too busy even then is shrunk further. Same pixels, same bytes.
    /// </summary>
    public static Thumbnail Of(Image<Rgb24> image)
    {
        var side = MaxSide;
        while (true)
        {
            using var small = image.Clone(x => x.Resize(new ResizeOptions { Mode = ResizeMode.Max, Size = Fit(image.Size(), side) }));
            // The encoder would copy the photo's EXIF, ICC and XMP blocks, often larger than the pixels.
            small.Metadata.ExifProfile = null;
            small.Metadata.IccProfile = null;
            small.Metadata.XmpProfile = null;
            small.Metadata.IptcProfile = null;
            foreach (var quality in Qualities)
            {
                using var jpeg = new MemoryStream();
                small.SaveAsJpeg(jpeg, new JpegEncoder { Quality = quality });
                if (jpeg.Length <= MaxBytes || side <= 16 && quality == Qualities[^1])
                    return new Thumbnail(jpeg.ToArray(), small.Width, small.Height);
            }
            side = side * 3 / 4;
        }
    }

    /// <summary>The image's size scaled down (never up) so its longest side is at most <paramref name="side"/>.</summary>
    private static Size Fit(Size size, int side)
    {
        var scale = Math.Min(1.0, (double)side / Math.Max(size.Width, size.Height));
        return new Size(Math.Max(1, (int)Math.Round(size.Width * scale)), Math.Max(1, (int)Math.Round(size.Height * scale)));
    }
}
