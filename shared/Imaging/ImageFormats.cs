using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Tiff;
using SixLabors.ImageSharp.Formats.Webp;
using SixLabors.ImageSharp.Metadata;

namespace BottleneckPipeline.Imaging;

/// <summary>
/// The image formats the pipeline takes, as one ImageSharp configuration for Ingest's header probe
/// and for every decode (Extract, Evaluate, predict), so no stage accepts what another refuses.
/// JPEG, PNG, GIF, BMP, WebP and TIFF only: TGA (no magic bytes) and Netpbm are left out on purpose.
/// </summary>
public static class ImageFormats
{
    public const string Accepted = "JPEG, PNG, GIF, BMP, WebP or TIFF";

    public static Configuration Configuration { get; } = Make();

    private static Configuration Make()
    {
        // A configuration of our own: Configuration.Default.Clone() shares its decoder registry, and
        // changing that would change every other ImageSharp user in the process.
        var c = new Configuration(
            new JpegConfigurationModule(), new PngConfigurationModule(), new GifConfigurationModule(),
            new BmpConfigurationModule(), new WebpConfigurationModule(), new TiffConfigurationModule())
        {
            // One thread per image: parallelism comes from the decode workers, not from inside ImageSharp.
            MaxDegreeOfParallelism = 1,
        };
        // A small pool: ImageSharp's default keeps freed pixel buffers for reuse up to a share of the
        // machine's memory, which a 12 MP decode (36 MB of pixels, more for the resize) fills at once
        // and keeps for the whole run (bench: extract-memory).
        c.MemoryAllocator = SixLabors.ImageSharp.Memory.MemoryAllocator.Create(
            new SixLabors.ImageSharp.Memory.MemoryAllocatorOptions { MaximumPoolSizeMegabytes = 16 });
        // First frame only (animated GIF, multi-page TIFF).
        c.ImageFormatsManager.SetDecoder(GifFormat.Instance, new GifDecoder { DecodingMode = FrameDecodingMode.First });
        c.ImageFormatsManager.SetDecoder(TiffFormat.Instance, new TiffDecoder { DecodingMode = FrameDecodingMode.First });
        return c;
    }

    /// <summary>The stored format name: jpeg, png, gif, bmp, webp or tiff.</summary>
    public static string Name(IImageFormat format) => format switch
    {
        JpegFormat => "jpeg",
        PngFormat => "png",
        GifFormat => "gif",
        BmpFormat => "bmp",
        WebpFormat => "webp",
        TiffFormat => "tiff",
        _ => format.Name.ToLowerInvariant(),
    };
}
