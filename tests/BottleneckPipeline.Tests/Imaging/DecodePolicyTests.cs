using BottleneckPipeline.Backbones;
using BottleneckPipeline.Config;
using BottleneckPipeline.Decoding;
using BottleneckPipeline.Imaging;
using BottleneckPipeline.Tests.Fixtures;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;
using static BottleneckPipeline.Tests.Fixtures.FlowerPhotos;
using ResizeMode = BottleneckPipeline.Config.ResizeMode;

namespace BottleneckPipeline.Tests.Imaging;

public class DecodePolicyTests
{
    [Fact]
    public void Large_jpegs_go_to_libvips_and_small_ones_or_other_formats_to_ImageSharp()
    {
        var policy = new DecodePolicy(2_000_000);
        var large = Flower(2000, 1500);            // 3.0 MP
        var small = Flower(1600, 1200);            // 1.9 MP
        var largePng = Flower(2000, 1500, new PngEncoder());

        foreach (var mode in new[] { ResizeMode.Stretch, ResizeMode.CenterCrop })
        {
            using var a = InputDecoder.Decode(large, 50_000_000, 224, mode, policy, out var pathLarge);
            using var b = InputDecoder.Decode(small, 50_000_000, 224, mode, policy, out var pathSmall);
            using var c = InputDecoder.Decode(largePng, 50_000_000, 224, mode, policy, out var pathPng);
            using var d = InputDecoder.Decode(large, 50_000_000, 224, mode, DecodePolicy.ImageSharpOnly, out var pathOff);
            Assert.Equal(DecodePath.Libvips, pathLarge);
            Assert.Equal(DecodePath.ImageSharp, pathSmall);
            Assert.Equal(DecodePath.ImageSharp, pathPng);
            Assert.Equal(DecodePath.ImageSharp, pathOff);
            foreach (var image in new[] { a, b, c, d }) Assert.Equal((224, 224), (image.Width, image.Height));
        }
    }

    [Fact]
    public void Libvips_applies_the_exif_orientation_like_ImageSharp()
    {
        // Left half red, right half blue, stored rotated: orientation 6 means "turn 90 degrees clockwise to view".
        using var image = new Image<Rgb24>(2400, 1200);
        image.ProcessPixelRows(acc =>
        {
            for (var y = 0; y < acc.Height; y++)
            {
                var row = acc.GetRowSpan(y);
                for (var x = 0; x < row.Length; x++) row[x] = x < row.Length / 2 ? new Rgb24(220, 20, 20) : new Rgb24(20, 20, 220);
            }
        });
        image.Metadata.ExifProfile = new SixLabors.ImageSharp.Metadata.Profiles.Exif.ExifProfile();
        image.Metadata.ExifProfile.SetValue(SixLabors.ImageSharp.Metadata.Profiles.Exif.ExifTag.Orientation, (ushort)6);
        using var ms = new MemoryStream();
        image.SaveAsJpeg(ms, new JpegEncoder { Quality = 95 });
        var bytes = ms.ToArray();

        using var vips = InputDecoder.Decode(bytes, 50_000_000, 64, ResizeMode.Stretch, new DecodePolicy(1), out var path);
        using var sharp = InputDecoder.Decode(bytes, 50_000_000, 64, ResizeMode.Stretch, DecodePolicy.ImageSharpOnly);
        Assert.Equal(DecodePath.Libvips, path);
        // Upright, the red half is on top: both decoders agree on every corner.
        foreach (var (x, y) in new[] { (8, 8), (56, 8), (8, 56), (56, 56) })
        {
            Assert.Equal(sharp[x, y].R > sharp[x, y].B, vips[x, y].R > vips[x, y].B);
        }
        Assert.True(vips[32, 8].R > vips[32, 8].B);
        Assert.True(vips[32, 56].B > vips[32, 56].R);
    }

    [Fact]
    public void The_fingerprint_names_the_decode_policy_and_ImageSharp_alone_keeps_todays()
    {
        var none = BackboneFactory.Resolve(new BackboneConfig(), ResizeMode.Stretch);
        var off = BackboneFactory.Resolve(new BackboneConfig(), ResizeMode.Stretch, DecodePolicy.ImageSharpOnly);
        var at2 = BackboneFactory.Resolve(new BackboneConfig(), ResizeMode.Stretch, new DecodePolicy(2_000_000));
        var at4 = BackboneFactory.Resolve(new BackboneConfig(), ResizeMode.Stretch, new DecodePolicy(4_000_000));

        Assert.Equal(none.Fingerprint, off.Fingerprint);
        Assert.Equal(off.Fingerprint, off.ImageSharpFingerprint);
        Assert.NotEqual(off.Fingerprint, at2.Fingerprint);
        Assert.NotEqual(at2.Fingerprint, at4.Fingerprint);
        // Every policy knows where the ImageSharp vectors of its small images are.
        Assert.Equal(off.Fingerprint, at2.ImageSharpFingerprint);
        Assert.Equal(off.Fingerprint, at4.ImageSharpFingerprint);
    }

    [Fact]
    public void The_config_key_sets_the_policy_and_its_default_is_1_megapixel()
    {
        using var t = new TempDir();
        var path = Path.Combine(t.Path, "p.yaml");
        File.WriteAllText(path, $"dataset:\n  root: {RepoPaths.Flowers}\n");
        var byDefault = BackboneFactory.Resolve(ConfigLoader.Load(path));
        File.WriteAllText(path, $"dataset:\n  root: {RepoPaths.Flowers}\nextract:\n  libvips_min_pixels: 0\n");
        var off = BackboneFactory.Resolve(ConfigLoader.Load(path));
        Assert.Equal(1_000_000, byDefault.Decode.LibvipsMinPixels);
        Assert.False(off.Decode.UsesLibvips);
        Assert.Equal(off.Fingerprint, byDefault.ImageSharpFingerprint);
        Assert.NotEqual(off.Fingerprint, byDefault.Fingerprint);
    }

    [Fact]
    public void A_large_photo_decoded_by_libvips_gives_a_vector_close_to_ImageSharps()
    {
        var spec = BackboneFactory.Resolve(new BackboneConfig(), ResizeMode.Stretch);
        using var session = BackboneSession.Create(spec, threads: 1);
        var cosines = new List<float>();
        for (var i = 0; i < 3; i++)
        {
            var bytes = Flower(4032, 3024, index: i);
            var input = new float[2 * spec.ValuesPerImage];
            foreach (var (policy, slot) in new[] { (DecodePolicy.ImageSharpOnly, 0), (new DecodePolicy(1), 1) })
            {
                using var image = InputDecoder.Decode(bytes, 50_000_000, spec.InputSize, spec.Resize, policy);
                TensorWriter.Write(image, spec.Preprocessing, spec.Layout, input.AsSpan(slot * spec.ValuesPerImage, spec.ValuesPerImage));
            }
            var output = Array.Empty<float>();
            session.Run(input, 2, ref output);
            var d = session.Dimension;
            cosines.Add(System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(output.AsSpan(0, d), output.AsSpan(d, d)));
            Assert.False(output.AsSpan(0, d).SequenceEqual(output.AsSpan(d, d)), "the two decoders' pixels differ, so their vectors must too");
        }
        // Tolerance: cosine at least 0.95 for each photo (the bench's flowers: docs/large-photos.md).
        Assert.All(cosines, c => Assert.InRange(c, 0.95f, 1.0001f));
    }

    [Fact]
    public void A_corrupt_large_jpeg_is_rejected_by_libvips_as_undecodable()
    {
        var bytes = CorruptLargeJpeg();
        var vips = Assert.Throws<ImageRejectedException>(() => InputDecoder.Decode(bytes, 50_000_000, 224, ResizeMode.Stretch, new DecodePolicy(1)));
        var sharp = Assert.Throws<ImageRejectedException>(() => InputDecoder.Decode(bytes, 50_000_000, 224, ResizeMode.Stretch, DecodePolicy.ImageSharpOnly));
        Assert.StartsWith("cannot decode:", vips.Message);
        Assert.StartsWith("cannot decode:", sharp.Message);
    }
}
