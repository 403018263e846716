namespace BottleneckPipeline.Imaging;

/// <summary>
/// Reads an image file that no index vouches for (predict, Evaluate --data): a file, followed
/// through links, of at most <see cref="MaxBytes"/>. Devices, FIFOs and sockets report a size of 0,
/// so a link to /dev/zero or /dev/urandom, a FIFO or a socket is refused from its metadata before it
/// is opened: it can neither exhaust memory nor block the run. The pixel limit is the decoder's
/// (<see cref="ImageLoader"/>).
/// </summary>
public static class ImageFile
{
    /// <summary>Larger than any compressed photo under <c>dataset.max_pixels</c>, and than an uncompressed
    /// 50 MP one (150 MB of RGB).</summary>
    public const long MaxBytes = 256L << 20;

    /// <summary>The file's bytes, or an <see cref="ImageRejectedException"/> saying why it is not read.</summary>
    public static byte[] ReadAllBytes(string path, long maxBytes = MaxBytes)
    {
        var file = new FileInfo(path);
        if (file.LinkTarget is not null && File.ResolveLinkTarget(path, returnFinalTarget: true) is not { Exists: true })
            throw new ImageRejectedException("a broken link");
        if (!file.Exists)
            throw new ImageRejectedException(Directory.Exists(path) ? "a folder, not a file" : "no such file");
        if (file.Length == 0) throw new ImageRejectedException("empty, or not a regular file (a device, FIFO or socket)");
        if (file.Length > maxBytes) throw new ImageRejectedException($"too large: {file.Length} bytes, over the {maxBytes >> 20} MB an image may have");
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        if (!stream.CanSeek) throw new ImageRejectedException("not a regular file");
        var bytes = new byte[file.Length];
        var read = 0;
        while (read < bytes.Length)
        {
            var n = stream.Read(bytes, read, bytes.Length - read);
            if (n == 0) throw new ImageRejectedException($"shrank while read: {read} of {file.Length} bytes");
            read += n;
        }
        return bytes;
    }
}
