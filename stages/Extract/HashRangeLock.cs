using System.Runtime.InteropServices;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Runtime;
using Microsoft.Win32.SafeHandles;

namespace BottleneckPipeline.Extract;

/// <summary>
/// Locks on ranges of content-id positions (see <see cref="IdRange"/>), held by a
/// shard while it embeds the images of that range: two shards whose ranges overlap (a mis-set
/// array, a task started twice) never embed the same image at once, so the cache gets each vector
/// once. The locks are Linux open-file-description byte-range locks on one file in the
/// fingerprint's cache folder, a position mapped to a byte offset: the kernel (or the NFS server)
/// releases them when the holder dies, even by kill -9 or a lost node, so there is nothing stale
/// to clean up.
/// <para>
/// The file is opened with open(2) rather than a FileStream because .NET takes a whole-file
/// flock on every FileStream, and NFS turns flocks into byte-range locks that would collide with
/// these.
/// </para>
/// </summary>
internal sealed class HashRangeLock : IDisposable
{
    public const string FileName = "shards.lock";

    private readonly SafeFileHandle _handle;
    public string Path { get; }

    private HashRangeLock(SafeFileHandle handle, string path)
    {
        _handle = handle;
        Path = path;
    }

    public static HashRangeLock Open(string cacheDir, string fingerprint)
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("sharded Extract locks ranges with Linux open-file-description locks; run shards on Linux");
        var folder = BottleneckCache.FolderFor(cacheDir, fingerprint);
        TransientIo.Run(() => Directory.CreateDirectory(folder));
        var path = System.IO.Path.Combine(folder, FileName);
        var fd = TransientIo.Run(() =>
        {
            var f = Native.open(path, Native.O_RDWR | Native.O_CREAT | Native.O_CLOEXEC, 0x1A4 /* 0644 */);
            return f >= 0 ? f : throw Native.Error($"cannot open {path}");
        });
        return new HashRangeLock(new SafeFileHandle(fd, ownsHandle: true), path);
    }

    /// <summary>Locks positions first..last (inclusive) unless another holder has any of them; never waits.</summary>
    public bool TryLock(ulong first, ulong last) => TransientIo.Run(() => Set(first, last, Native.F_WRLCK));

    public void Unlock(ulong first, ulong last) => TransientIo.Run(() => Set(first, last, Native.F_UNLCK));

    /// <summary>Positions are 64-bit; byte offsets must stay positive longs, so four positions share a byte.</summary>
    private static (long Start, long Length) Bytes(ulong first, ulong last)
    {
        if (last < first) throw new ArgumentException($"range {first:x16}..{last:x16} is empty");
        var start = (long)(first >> 2);
        return (start, (long)(last >> 2) - start + 1);
    }

    private bool Set(ulong first, ulong last, short type)
    {
        var (start, length) = Bytes(first, last);
        var request = new Native.Flock { l_type = type, l_whence = 0 /* SEEK_SET */, l_start = start, l_len = length };
        var added = false;
        _handle.DangerousAddRef(ref added);
        try
        {
            if (Native.fcntl((int)_handle.DangerousGetHandle(), Native.F_OFD_SETLK, ref request) == 0) return true;
            var errno = Marshal.GetLastPInvokeError();
            if (type != Native.F_UNLCK && errno is Native.EAGAIN or Native.EACCES) return false;
            throw Native.Error($"cannot {(type == Native.F_UNLCK ? "unlock" : "lock")} a range of {Path}", errno);
        }
        finally
        {
            if (added) _handle.DangerousRelease();
        }
    }

    public void Dispose() => _handle.Dispose(); // closing the description drops every lock it holds

    private static class Native
    {
        public const int O_RDWR = 2, O_CREAT = 0x40, O_CLOEXEC = 0x80000;
        public const int F_OFD_SETLK = 37;
        public const short F_WRLCK = 1, F_UNLCK = 2;
        public const int EAGAIN = 11, EACCES = 13;

        /// <summary>struct flock of Linux on 64-bit targets (natural alignment gives its padding).</summary>
        [StructLayout(LayoutKind.Sequential)]
        public struct Flock
        {
            public short l_type;
            public short l_whence;
            public long l_start;
            public long l_len;
            public int l_pid;
        }

        [DllImport("libc", SetLastError = true)]
        public static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);

        [DllImport("libc", SetLastError = true)]
        public static extern int fcntl(int fd, int cmd, ref Flock request);

        public static IOException Error(string what, int? errno = null)
        {
            var e = errno ?? Marshal.GetLastPInvokeError();
            // HResult carries the errno, as .NET's own IO errors do, so TransientIo can judge it.
            return new IOException($"{what}: {Marshal.GetPInvokeErrorMessage(e)} (errno {e})", e);
        }
    }
}
