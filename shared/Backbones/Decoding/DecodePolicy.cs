namespace BottleneckPipeline.Decoding;

/// <summary>
/// Which decoder turns an image into the model's input pixels. JPEGs of at least
/// <see cref="LibvipsMinPixels"/> pixels go to libvips, whose shrink-on-load decodes a 12 MP photo at
/// 1/2, 1/4 or 1/8 scale straight from the DCT; everything else to ImageSharp, which is faster on
/// small images. The pixels of the two paths differ slightly, so the policy is part of the backbone
/// fingerprint whenever it can send an image to libvips.
/// </summary>
/// <param name="LibvipsMinPixels">0: ImageSharp for every image (the pipeline before libvips).</param>
public sealed record DecodePolicy(long LibvipsMinPixels)
{
    public static readonly DecodePolicy ImageSharpOnly = new(0);

    /// <summary>The NetVips.Native build the fingerprint names (Directory.Packages.props pins it).</summary>
    public const string LibvipsVersion = "8.18.7";

    public bool UsesLibvips => LibvipsMinPixels > 0;

    /// <summary>Whether an image of this format and size is decoded by libvips.</summary>
    public bool ChoosesLibvips(bool isJpeg, long pixels) => UsesLibvips && isJpeg && pixels >= LibvipsMinPixels;

    /// <summary>The policy's part of the fingerprint: null for ImageSharp only, so that key is today's.
    /// Names the libvips build, since another version may resample differently.</summary>
    public string? Describe() => UsesLibvips ? $"decode=libvips-jpeg>={LibvipsMinPixels};vips={LibvipsVersion}" : null;
}
