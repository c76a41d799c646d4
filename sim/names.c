/* Hà Nội names; see names.h. Lists are real places; combinations are synthetic. */
#include "names.h"

#include <stdio.h>
#include <stdarg.h>

/* snprintf that truncates silently: names are bounded by design and a cut name is harmless. */
static void sfmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sfmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

static const char *const streets[] = {
    "Nguyễn Trãi", "Láng", "Kim Mã", "Giải Phóng", "Trường Chinh", "Xã Đàn", "Tây Sơn",
    "Nguyễn Chí Thanh", "Đào Tấn", "Liễu Giai", "Hoàng Quốc Việt", "Phạm Văn Đồng",
    "Xuân Thủy", "Cầu Giấy", "Trần Duy Hưng", "Lê Văn Lương", "Tố Hữu", "Khuất Duy Tiến",
    "Nguyễn Xiển", "Phạm Hùng", "Võ Chí Công", "Lạc Long Quân", "Âu Cơ", "Nghi Tàm", "Yên Phụ",
    "Trần Nhật Duật", "Trần Quang Khải", "Trần Khánh Dư", "Lò Đúc", "Phố Huế", "Bà Triệu",
    "Hai Bà Trưng", "Tràng Tiền", "Hàng Bài", "Đinh Tiên Hoàng", "Lê Thái Tổ", "Hàng Đào",
    "Phùng Hưng", "Lê Duẩn", "Nguyễn Thái Học", "Tôn Đức Thắng", "Hoàng Hoa Thám",
    "Thụy Khuê", "Đội Cấn", "Văn Cao", "Lĩnh Nam", "Minh Khai", "Kim Ngưu", "Tam Trinh",
    "Nguyễn Văn Cừ", "Ngọc Lâm", "Nguyễn Văn Linh", "Hà Huy Tập", "Ngô Gia Tự", "Quang Trung",
    "Lê Trọng Tấn", "Chùa Bộc", "Thái Hà", "Huỳnh Thúc Kháng", "Nguyễn Lương Bằng",
    "Tôn Thất Tùng", "Trần Đại Nghĩa", "Đại La", "Bạch Mai", "Kim Giang", "Nguyễn Hữu Thọ",
    "Pháp Vân", "Ngọc Hồi", "Mễ Trì", "Hồ Tùng Mậu", "Trần Cung", "Phạm Văn Bạch",
    "Dương Đình Nghệ", "Nguyễn Hoàng", "Lê Đức Thọ", "Hàm Nghi", "Nguyễn Cơ Thạch",
    "Lê Quang Đạo", "Nguyễn Khánh Toàn", "Trần Quốc Hoàn", "Phan Văn Trường",
    "Doãn Kế Thiện", "Hoàng Minh Giám", "Vũ Phạm Hàm", "Trung Kính", "Hoàng Đạo Thúy",
    "Lê Văn Thiêm", "Vũ Trọng Phụng", "Định Công", "Trương Định", "Tân Mai",
    "Nguyễn Đức Cảnh", "Thanh Nhàn", "Trần Khát Chân", "Nguyễn Khoái", "Nguyễn Sơn",
    "Cổ Linh", "Ngô Xuân Quảng", "Giảng Võ", "Ngọc Khánh", "Nguyễn Phong Sắc",
    "Trần Thái Tông", "Trần Đăng Ninh", "Tô Hiệu", "Nguyễn Văn Huyên", "Hoàng Sâm",
    "Đặng Thai Mai", "Xuân Diệu", "An Dương Vương", "Phú Thượng", "Thượng Thụy",
    "Nguyễn Hoàng Tôn", "Võ Nguyên Giáp", "Trần Phú", "Quang Trung Hà Đông", "Vạn Phúc",
    "Lê Lợi", "Bà Triệu Hà Đông", "Nguyễn Tuân", "Vũ Tông Phan", "Khương Đình", "Bùi Xương Trạch",
};
#define N_STREETS (sizeof streets / sizeof streets[0])

static const char *const districts[] = {"Ba Đình", "Đống Đa", "Thanh Xuân", "Hoàng Mai",
                                        "Long Biên", "Tây Hồ", "Hà Đông", "Bắc Từ Liêm"};

static const char *const terminals[] = {
    "Bến xe Giáp Bát", "Bến xe Mỹ Đình", "Bến xe Gia Lâm", "Bến xe Nước Ngầm",
    "Bến xe Yên Nghĩa", "Bến xe Nam Thăng Long", "Điểm trung chuyển Long Biên",
    "Điểm trung chuyển Cầu Giấy", "Trần Khánh Dư", "Bờ Hồ (Hồ Hoàn Kiếm)", "Bến xe Hà Đông",
    "Khu đô thị Linh Đàm", "Bãi đỗ xe Kim Mã", "Công viên Nghĩa Đô", "Học viện Nông nghiệp",
    "Khu đô thị Times City", "Khu đô thị Việt Hưng", "Khu đô thị Ciputra", "Bến xe Thượng Đình",
    "Cầu Nhật Tân", "Đại học Quốc gia Hà Nội", "Sân vận động Mỹ Đình", "Bệnh viện Nội tiết",
    "Khu công nghiệp Bắc Thăng Long", "Khu đô thị Xa La", "Đông Anh", "Văn Điển",
    "Khu đô thị Dương Nội", "Sân bay Gia Lâm", "Bến xe Phùng Khoang",
};
#define N_TERMINALS (sizeof terminals / sizeof terminals[0])

static const char *const kinds[] = {"Chợ", "Trường", "Bệnh viện", "Công viên", "Hồ",
                                    "Cầu", "Khu đô thị", "Nhà văn hóa", "UBND phường",
                                    "Siêu thị", "Chùa", "Đình"};

static const char *const markets[] = {"Hôm", "Mơ", "Đồng Xuân", "Long Biên", "Bưởi", "Hàng Da",
                                  "Thành Công", "Nghĩa Tân", "Cầu Giấy", "Kim Liên",
                                  "Phùng Khoang", "Hà Đông", "Ngọc Hà", "Xanh", "Gia Lâm",
                                  "Ninh Hiệp", "Khương Đình", "Văn Điển"};
static const char *const schools[] = {
    "Đại học Bách khoa", "Đại học Quốc gia", "THPT Chu Văn An", "Đại học Sư phạm",
    "Đại học Giao thông Vận tải", "Đại học Thủy lợi", "Đại học Ngoại thương",
    "Học viện Ngân hàng", "THPT Kim Liên", "Đại học Thương mại", "Đại học Kinh tế Quốc dân",
    "Tiểu học Dịch Vọng", "THCS Giảng Võ", "Đại học Xây dựng", "Học viện Báo chí",
    "Đại học Hà Nội", "THPT Việt Đức", "Đại học Y Hà Nội"};
static const char *const hospitals[] = {"Bạch Mai", "Việt Đức", "E", "Xanh Pôn", "108",
                                        "Nhi Trung ương", "Thanh Nhàn", "Đống Đa",
                                        "Phụ sản Hà Nội", "K", "Thận Hà Nội", "Hữu nghị",
                                        "Tim Hà Nội", "Mắt Trung ương", "Đa khoa Hà Đông"};
static const char *const parks[] = {"Thống Nhất", "Thủ Lệ", "Cầu Giấy", "Nghĩa Đô",
                                        "Hòa Bình", "Yên Sở", "Tuổi Trẻ", "Bách Thảo",
                                        "Indira Gandhi", "Lê Nin"};
static const char *const lakes[] = {"Hoàn Kiếm", "Tây", "Trúc Bạch", "Thiền Quang", "Ba Mẫu",
                                 "Văn Chương", "Đống Đa", "Thành Công", "Giảng Võ", "Linh Đàm",
                                 "Định Công", "Hạ Đình"};
static const char *const bridges[] = {"Giấy", "Long Biên", "Chương Dương", "Vĩnh Tuy", "Thanh Trì",
                                  "Nhật Tân", "Thăng Long", "Mới", "Dậu", "Diễn", "Đuống"};
static const char *const estates[] = {"Linh Đàm", "Định Công", "Việt Hưng", "Ciputra",
                                         "Times City", "Royal City", "Mỹ Đình",
                                         "Trung Hòa Nhân Chính", "Văn Quán", "Đại Kim",
                                         "Pháp Vân", "Sài Đồng"};
static const char *const wards[] = {"Dịch Vọng", "Láng Hạ", "Kim Liên", "Khương Mai",
                                     "Nghĩa Đô", "Quan Hoa", "Thịnh Quang", "Phương Liên",
                                     "Bạch Đằng", "Vĩnh Phúc", "Cống Vị", "Ngọc Thụy",
                                     "Mai Dịch", "Yên Hòa", "Trung Văn", "Đại Mỗ"};
static const char *const malls[] = {"BigC Thăng Long", "Aeon Mall Long Biên",
                                       "Lotte Ba Đình", "Co.opmart Hà Đông", "Vincom Bà Triệu",
                                       "Aeon Mall Hà Đông", "WinMart Cầu Giấy"};
static const char *const pagodas[] = {"Trấn Quốc", "Một Cột", "Quán Sứ", "Láng", "Bộc",
                                   "Hà", "Kim Liên", "Phúc Khánh", "Liên Phái"};
static const char *const temples[] = {"Kim Ngân", "Yên Thái", "Tây Đằng", "Đông Ngạc", "Chèm",
                                   "Nhân Chính", "Hoàng Mai"};

#define PICK(arr, h) (arr[(h) % (sizeof arr / sizeof arr[0])])

void buyt_names_street(unsigned i, char *buf, size_t len)
{
    if (i < N_STREETS)
        sfmt(buf, len, "%s", streets[i]);
    else
        sfmt(buf, len, "%s %s", streets[i % N_STREETS],
                 districts[(i / N_STREETS - 1) % (sizeof districts / sizeof districts[0])]);
}

void buyt_names_terminal(unsigned i, char *buf, size_t len)
{
    if (i < N_TERMINALS)
        sfmt(buf, len, "%s", terminals[i]);
    else
        sfmt(buf, len, "Điểm đầu cuối số %u", i + 1);
}

void buyt_names_landmark(uint64_t h, char *buf, size_t len)
{
    unsigned k = (unsigned)(h % (sizeof kinds / sizeof kinds[0]));
    uint64_t g = h / 97;
    const char *what;
    switch (k) {
    case 0: what = PICK(markets, g); break;
    case 1: what = PICK(schools, g); break;
    case 2: what = PICK(hospitals, g); break;
    case 3: what = PICK(parks, g); break;
    case 4: what = PICK(lakes, g); break;
    case 5: what = PICK(bridges, g); break;
    case 6: what = PICK(estates, g); break;
    case 7: what = PICK(wards, g); break;
    case 8: what = PICK(wards, g); break;
    case 9: what = PICK(malls, g); break;
    case 10: what = PICK(pagodas, g); break;
    default: what = PICK(temples, g); break;
    }
    sfmt(buf, len, "%s %s", kinds[k], what);
}

int buyt_names_has_diacritics(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 1;
    return 0;
}
