using System.Security.Cryptography;
using BottleneckPipeline.Config;
using BottleneckPipeline.Index;

namespace BottleneckPipeline.Tests.Fixtures;

/// <summary>
/// Fills a real index the way Ingest does (classes, files, examples as shared/Index/Schema.cs
/// describes) by scanning a folder of class subfolders, so Extract tests need no Ingest code.
/// </summary>
public static class TestIndex
{
    public static void Fill(IndexDb db, string root)
    {
        using var tx = db.Begin();
        var classes = Directory.GetDirectories(root).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        for (var i = 0; i < classes.Count; i++)
        {
            using var c = db.Command("INSERT INTO classes(label_id, name) VALUES ($i, $n);", tx);
            c.Parameters.AddWithValue("$i", i);
            c.Parameters.AddWithValue("$n", classes[i]);
            c.ExecuteNonQuery();
        }
        foreach (var cls in classes)
            foreach (var file in Directory.GetFiles(Path.Combine(root, cls!)).Order(StringComparer.Ordinal))
            {
                var rel = cls + "/" + Path.GetFileName(file);
                var bytes = File.ReadAllBytes(file);
                var id = Convert.ToHexStringLower(SHA256.HashData(bytes));
                // The header's size, as Ingest's probe records it (Extract's decode policy reads it); 1x1 when unreadable.
                var info = SixLabors.ImageSharp.Image.Identify(bytes);
                using (var f = db.Command(
                    "INSERT INTO files(rel_path, class, size, mtime_ns, content_id, width, height, format) VALUES ($p, $c, $s, 0, $id, $w, $h, 'jpeg');", tx))
                {
                    f.Parameters.AddWithValue("$w", info?.Width ?? 1);
                    f.Parameters.AddWithValue("$h", info?.Height ?? 1);
                    f.Parameters.AddWithValue("$p", rel);
                    f.Parameters.AddWithValue("$c", cls);
                    f.Parameters.AddWithValue("$s", bytes.Length);
                    f.Parameters.AddWithValue("$id", id);
                    f.ExecuteNonQuery();
                }
                using var e = db.Command("INSERT OR IGNORE INTO examples(content_id, class, split, rel_path) VALUES ($id, $c, 'train', $p);", tx);
                e.Parameters.AddWithValue("$id", id);
                e.Parameters.AddWithValue("$c", cls);
                e.Parameters.AddWithValue("$p", rel);
                e.ExecuteNonQuery();
            }
        tx.Commit();
    }

    /// <summary>Copies the first <paramref name="perClass"/> flowers of the first <paramref name="classes"/> classes.</summary>
    public static string CopyFlowers(string dest, int classes, int perClass)
    {
        foreach (var dir in Directory.GetDirectories(RepoPaths.Flowers).Order(StringComparer.Ordinal).Take(classes))
        {
            var target = Path.Combine(dest, Path.GetFileName(dir));
            Directory.CreateDirectory(target);
            foreach (var f in Directory.GetFiles(dir, "*.jpg").Order(StringComparer.Ordinal).Take(perClass))
                File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
        }
        return dest;
    }

    /// <summary>A config whose dataset, workspace and cache are under the given folders.</summary>
    public static PipelineConfig Config(string dir, string datasetRoot, string? cacheDir = null, string extra = "")
    {
        var yaml = $"dataset:\n  root: {datasetRoot}\nworkspace: {Path.Combine(dir, "ws")}\n" +
                   (cacheDir is null ? "" : $"cache:\n  dir: {cacheDir}\n") + extra;
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "pipeline.yaml");
        File.WriteAllText(path, yaml);
        return ConfigLoader.Load(path);
    }
}
