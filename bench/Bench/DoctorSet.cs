using System.Text.Json;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Training;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Processing;

namespace BottleneckPipeline.Bench;

/// <summary>A photo moved into a wrong class folder: its path in the set, its true class and the folder it was put in.</summary>
public sealed record MovedPhoto(string Path, string TrueClass, string GivenClass);

/// <summary>A planted near-copy (Path) of another photo of the set (Source), both relative to the set's root.</summary>
public sealed record NearCopy(string Path, string Source);

/// <summary>The set's ground truth, as written to its manifest.</summary>
public sealed record DoctorSetTruth(string Root, int Photos, IReadOnlyList<MovedPhoto> Moved, IReadOnlyList<NearCopy> Copies);

/// <summary>
/// The data doctor's evaluation set, built from the shared flowers by a seeded draw, so every run of the
/// bench scores the same set: every photo copied, 3% of them (45 of 1500) moved into another class's
/// folder (a class drawn uniformly among the others), and 25 near-copies of other photos added beside their
/// source, each resized to 85%, cropped to its central 92% and re-encoded at JPEG quality 70. The set is
/// built once into its folder; a manifest written last says it is complete and holds the truth.
/// </summary>
public static class DoctorSet
{
    public const long Seed = 20251204;
    public const double MovedShare = 0.03;
    public const int CopyCount = 25;
    public const double CopyScale = 0.85, CopyCrop = 0.92;
    public const int CopyQuality = 70;
    public const string ManifestName = "doctor-set.json";

    public static DoctorSetTruth Build(string flowers, string root)
    {
        var manifest = System.IO.Path.Combine(root, ManifestName);
        if (File.Exists(manifest)) return Read(manifest);
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);

        var classes = Directory.GetDirectories(flowers).Select(d => System.IO.Path.GetFileName(d)!).Order(StringComparer.Ordinal).ToArray();
        var photos = classes.SelectMany(c => Directory.GetFiles(System.IO.Path.Combine(flowers, c), "*.jpg")
            .Select(f => (Class: c, Name: System.IO.Path.GetFileName(f))).Order()).ToArray();
        var random = new SeededRandom(Seed);
        var order = Enumerable.Range(0, photos.Length).ToArray();
        random.Shuffle(order);
        var movedCount = (int)Math.Round(MovedShare * photos.Length);
        var moved = new List<MovedPhoto>();
        var copies = new List<NearCopy>();
        var data = System.IO.Path.Combine(root, "data");
        foreach (var c in classes) Directory.CreateDirectory(System.IO.Path.Combine(data, c));

        for (var k = 0; k < photos.Length; k++)
        {
            var (cls, name) = photos[order[k]];
            var given = cls;
            if (k < movedCount)
            {
                var others = classes.Where(c => c != cls).ToArray();
                given = others[random.NextInt(others.Length)];
                moved.Add(new MovedPhoto($"{given}/{name}", cls, given));
            }
            File.Copy(System.IO.Path.Combine(flowers, cls, name), System.IO.Path.Combine(data, given, name));
        }
        // Near-copies of photos that stay in their own class, drawn after the moved ones in the same order.
        for (var k = movedCount; k < movedCount + CopyCount; k++)
        {
            var (cls, name) = photos[order[k]];
            var copy = $"{cls}/{System.IO.Path.GetFileNameWithoutExtension(name)}_near.jpg";
            using var image = Image.Load(System.IO.Path.Combine(flowers, cls, name));
            image.Mutate(x => x.Resize((int)Math.Round(image.Width * CopyScale), (int)Math.Round(image.Height * CopyScale)));
            var (w, h) = ((int)Math.Round(image.Width * CopyCrop), (int)Math.Round(image.Height * CopyCrop));
            image.Mutate(x => x.Crop(new Rectangle((image.Width - w) / 2, (image.Height - h) / 2, w, h)));
            image.SaveAsJpeg(System.IO.Path.Combine(data, copy), new JpegEncoder { Quality = CopyQuality });
            copies.Add(new NearCopy(copy, $"{cls}/{name}"));
        }

        var truth = new DoctorSetTruth(data, photos.Length + copies.Count, moved, copies);
        AtomicFile.WriteAllText(manifest, JsonSerializer.Serialize(truth, new JsonSerializerOptions { WriteIndented = true }));
        return truth;
    }

    private static DoctorSetTruth Read(string manifest) =>
        JsonSerializer.Deserialize<DoctorSetTruth>(File.ReadAllText(manifest)) ?? throw new InvalidDataException($"{manifest} is empty");
}
