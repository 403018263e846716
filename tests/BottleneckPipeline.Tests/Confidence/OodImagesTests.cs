
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Confidence;

public class OodImagesTests
{
    [Fact]
    public void The_same_seed_writes_the_same_files_and_every_kind()
    {
        using var a = new TempDir();
        using var b = new TempDir();
        var first = OodImages.Write(a.Path, 8, seed: 7, size: 96);
        var second = OodImages.Write(b.Path, 8, seed: 7, size: 96);
        Assert.Equal(8, first.Count);
        Assert.Equal(first.Select(Path.GetFileName), second.Select(Path.GetFileName));
        for (var i = 0; i < first.Count; i++) Assert.Equal(File.ReadAllBytes(first[i]), File.ReadAllBytes(second[i]));
        foreach (var kind in OodImages.Kinds)
            Assert.Contains(first, p => Path.GetFileName(p).StartsWith(kind.ToString().ToLowerInvariant(), StringComparison.Ordinal));
        var other = OodImages.Write(Path.Combine(a.Path, "other"), 8, seed: 8, size: 96);
        Assert.NotEqual(File.ReadAllBytes(first[0]), File.ReadAllBytes(other[0]));
    }

    [Fact]
    public void The_images_are_not_blank_and_decode()
    {
        using var dir = new TempDir();
        foreach (var path in OodImages.Write(dir.Path, 8, seed: 3, size: 64))
        {
            using var image = SixLabors.ImageSharp.Image.Load<SixLabors.ImageSharp.PixelFormats.Rgb24>(path);
            Assert.Equal(64, image.Width);
            var distinct = new HashSet<SixLabors.ImageSharp.PixelFormats.Rgb24>();
            image.ProcessPixelRows(rows =>
            {
                for (var y = 0; y < rows.Height; y++) foreach (var p in rows.GetRowSpan(y)) distinct.Add(p);
            });
            Assert.True(distinct.Count > 1, $"{Path.GetFileName(path)} is one colour");
        }
    }
}
